"""Customer-managed KMS keys: the data tier's key, and the grant restriction every key carries."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.aws_facts import KMS_GRANT_IS_FOR_AWS_RESOURCE, PRINCIPAL_IS_AWS_SERVICE


def restrict_grants_to_aws_services(key: kms.Key) -> None:
    """Deny kms:CreateGrant unless an AWS service makes the grant (CT.KMS.PR.3).

    What the control asks for: deny to every principal when `kms:GrantIsForAWSResource` and
    `aws:PrincipalIsAWSService` are both false (BoolIfExists). RDS creates the grants for
    encrypted storage and Performance Insights on the deployer's behalf, where the first is
    true; Secrets Manager, CloudWatch Logs, SNS and CloudWatch alarms use a key through its
    policy and make no grants. A principal creating a grant for itself is refused, whatever its
    IAM policy says.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyGrantsNotMadeByOrForAwsServices",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={
                "BoolIfExists": {
                    KMS_GRANT_IS_FOR_AWS_RESOURCE.value: "false",
                    PRINCIPAL_IS_AWS_SERVICE.value: "false",
                }
            },
        )
    )


class DataKey(Construct):
    """One CMK for database storage, Performance Insights and the database secrets.

    Secure defaults: yearly automatic rotation, grants only by or for AWS services, the removal
    policy of the database it protects (a destroyed key makes retained snapshots unreadable, so
    prod keeps it).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, app_name: str, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{app_name} data tier: RDS storage, Performance Insights, DB secrets",
            enable_key_rotation=True,
            removal_policy=(
                RemovalPolicy.DESTROY
                if removal_policy == RemovalPolicy.DESTROY
                else RemovalPolicy.RETAIN
            ),
            pending_window=None,
        )
        restrict_grants_to_aws_services(self.key)
