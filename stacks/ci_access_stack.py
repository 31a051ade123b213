"""CI access stack: GitHub Actions OIDC roles, deployed only by `make ci-access`."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.ci_plan import CiPlan
from stacks.components.github_oidc import GithubOidc


class CiAccessStack(Stack):
    """Once per account, with the operator's own credentials; never selected by make deploy,
    make diff, make destroy or the workflows, so no pipeline run can change who may deploy."""

    def __init__(
        self, scope: Construct, construct_id: str, *, plan: CiPlan, qualifier: str, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"GitHub Actions OIDC access for {plan.repository} (make ci-access)",
            **kwargs,
        )
        self.github = GithubOidc(self, "GithubOidc", plan=plan, qualifier=qualifier)
        CfnOutput(self, "DiffRoleArn", value=self.github.diff_role.role_arn)
        for env, role in self.github.deploy_roles.items():
            CfnOutput(self, f"DeployRoleArn{env}", value=role.role_arn)
