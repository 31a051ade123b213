"""GitHub Actions' way into the account: the OIDC provider and the roles its workflows assume."""

from __future__ import annotations

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.aws_facts import (
    CDK_BOOTSTRAP_ROLES,
    GITHUB_OIDC_AUDIENCE,
    GITHUB_OIDC_ISSUER,
    IAM_ROLE_ARN_FORMAT,
    IAM_ROLE_MAX_SESSION_S,
)
from stacks.ci_plan import CiPlan

# What the deploy workflow's `cdk deploy --app <assembly>` assumes (assets and CloudFormation);
# `cdk diff --method template` needs only the lookup role.
DEPLOY_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
DIFF_BOOTSTRAP_ROLES = ("lookup",)


def role_arn(name: str) -> str:
    """This account's role `name` (a template string resolved by CloudFormation)."""
    return Fn.sub(
        IAM_ROLE_ARN_FORMAT.value.format(
            partition="${AWS::Partition}", account="${AWS::AccountId}", name=name
        )
    )


def bootstrap_role_arn(kind: str, qualifier: str) -> str:
    """A CDK bootstrap role of this account and region (DEFAULT_*_ROLE_ARN of the synthesizer)."""
    name = CDK_BOOTSTRAP_ROLES.value[kind].format(
        qualifier=qualifier, account="${AWS::AccountId}", region="${AWS::Region}"
    )
    return role_arn(name)


def trust(provider: iam.IOidcProvider, subject: str) -> iam.WebIdentityPrincipal:
    """Tokens of GitHub's issuer for STS whose sub is exactly `subject` (no wildcard)."""
    issuer = GITHUB_OIDC_ISSUER.value
    return iam.WebIdentityPrincipal(
        provider.oidc_provider_arn,
        {
            "StringEquals": {
                f"{issuer}:aud": GITHUB_OIDC_AUDIENCE.value,
                f"{issuer}:sub": subject,
            }
        },
    )


class GithubOidc(Construct):
    """GitHub Actions OIDC federation for one repository.

    Creates:
    - `provider`: the account's IAM OIDC provider for token.actions.githubusercontent.com with
      audience sts.amazonaws.com (AWS::IAM::OIDCProvider, no custom resource; retained when the
      stack is deleted, since other repositories may use it), or the one at
      `ci.oidc_provider_arn`, imported.
    - `deploy_roles`: one per `ci.environments` item, named `<app>-ci-deploy-<env>`, trusted only
      by tokens with aud sts.amazonaws.com and sub exactly
      `repo:<repository>:environment:<github environment>` (StringEquals); it may only
      sts:AssumeRole the CDK bootstrap roles of this account, region and qualifier (deploy,
      file-publishing, image-publishing, lookup) and that environment's smoke role (created by
      its service stack, stacks/components/smoke_access.py).
    - `diff_role` (`<app>-ci-diff`): trusted only by `repo:<repository>:pull_request`; it may
      only assume the lookup role (read deployed templates for `cdk diff --method template`).
    Every role: one-hour maximum session, no managed policy, no wildcard in actions or resources.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, plan: CiPlan, qualifier: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.provider = self._provider(plan.oidc_provider_arn)
        self.deploy_roles: dict[str, iam.Role] = {}
        for target in plan.targets:
            assumable = [bootstrap_role_arn(k, qualifier) for k in DEPLOY_BOOTSTRAP_ROLES]
            self.deploy_roles[target.env] = self._role(
                f"Deploy{target.env}",
                name=target.deploy_role,
                subject=target.subject,
                assumable=[*assumable, role_arn(target.smoke_role)],
                description=f"GitHub Actions deploy of {target.env} ({target.subject})",
            )
        self.diff_role = self._role(
            "Diff",
            name=plan.diff_role,
            subject=plan.diff_subject,
            assumable=[bootstrap_role_arn(k, qualifier) for k in DIFF_BOOTSTRAP_ROLES],
            description=f"GitHub Actions cdk diff on pull requests ({plan.diff_subject})",
        )

    def _provider(self, existing_arn: str | None) -> iam.IOidcProvider:
        if existing_arn is not None:
            return iam.OidcProviderNative.from_oidc_provider_arn(self, "Provider", existing_arn)
        return iam.OidcProviderNative(
            self,
            "Provider",
            url=f"https://{GITHUB_OIDC_ISSUER.value}",
            client_ids=[GITHUB_OIDC_AUDIENCE.value],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _role(
        self, construct_id: str, *, name: str, subject: str, assumable: list[str], description: str
    ) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            role_name=name,
            description=description,
            assumed_by=trust(self.provider, subject),
            max_session_duration=Duration.seconds(IAM_ROLE_MAX_SESSION_S.value),
            inline_policies={
                "AssumeRoles": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["sts:AssumeRole"], resources=assumable)
                    ]
                )
            },
        )
