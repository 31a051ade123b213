"""CI access, named once: stacks, roles and OIDC subjects derived from cdk.json `ci` + `project`.

The CI access stack (stacks/ci_access_stack.py), each service stack's smoke role, the workflows'
plan (`python -m ops.ci_matrix`) and `make ci-access` all read the names here, so a role the
workflow assumes is the role the stack created and the trust policy names.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.aws_facts import GITHUB_OIDC_SUBJECTS, IAM_ROLE_ARN_FORMAT, partition_of
from stacks.config import CiConfig, ProjectConfig, stack_names


@dataclass(frozen=True)
class CiTarget:
    """One environment the deploy workflow deploys: its stacks, roles and OIDC subject."""

    env: str
    github_environment: str
    stacks: tuple[str, str]
    deploy_role: str
    smoke_role: str
    subject: str


@dataclass(frozen=True)
class CiPlan:
    """Everything the CI access stack and the workflows agree on."""

    repository: str
    account: str
    region: str
    branch: str
    oidc_provider_arn: str | None
    stack_name: str
    diff_role: str
    diff_subject: str
    targets: tuple[CiTarget, ...]

    def target(self, env: str) -> CiTarget | None:
        return next((t for t in self.targets if t.env == env), None)

    def role_arn(self, name: str) -> str:
        """The ARN of one of these roles in the configured account (what a workflow assumes)."""
        partition = partition_of(self.region)
        return IAM_ROLE_ARN_FORMAT.value.format(
            partition=partition, account=self.account, name=name
        )


def ci_stack_name(app_name: str) -> str:
    """The CI access stack: deployed by `make ci-access` only, never selected by make deploy."""
    return f"{app_name}-CiAccess"


def ci_plan(project: ProjectConfig, ci: CiConfig) -> CiPlan:
    app, subjects = project.app_name, GITHUB_OIDC_SUBJECTS.value
    targets = tuple(
        CiTarget(
            env=item.env,
            github_environment=item.github_environment,
            stacks=stack_names(app, item.env),
            deploy_role=f"{app}-ci-deploy-{item.env}",
            smoke_role=f"{app}-ci-smoke-{item.env}",
            subject=subjects["environment"].format(
                repository=ci.repository, environment=item.github_environment
            ),
        )
        for item in ci.environments
    )
    return CiPlan(
        repository=ci.repository,
        account=ci.account,
        region=ci.region,
        branch=ci.branch,
        oidc_provider_arn=ci.oidc_provider_arn,
        stack_name=ci_stack_name(app),
        diff_role=f"{app}-ci-diff",
        diff_subject=subjects["pull_request"].format(repository=ci.repository),
        targets=targets,
    )
