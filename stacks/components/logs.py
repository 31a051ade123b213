"""CloudWatch Logs: one customer-managed key per stack, and the log groups it encrypts."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.aws_facts import LOG_GROUP_ARN_FORMAT, LOGS_ENCRYPTION_CONTEXT_KEY, LOGS_KEY_ACTIONS
from stacks.components._common import retention
from stacks.components.encryption import restrict_grants_to_aws_services
from stacks.components.nag import acknowledge_control
from stacks.control_tower import MIN_LOG_RETENTION_DAYS


class LogsKey(Construct):
    """The CMK of one stack's log groups.

    Creates: a KMS key (yearly rotation, grants only by or for AWS services) whose policy lets the
    CloudWatch Logs principal of the stack's region use it only for log groups named
    `<stack name>-*`, the names CloudFormation generates for this stack's unnamed log groups
    (checked on the encryption context CloudWatch Logs sends: the log group's ARN). One key per
    stack: a key in the data stack used by the service stack would have to name the service
    stack's log groups in the data stack's key policy. Costs $1 a month per key
    (aws_facts.KMS_KEY_MONTHLY_USD).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"CloudWatch Logs of the {stack.stack_name} stack's log groups",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7) if removal_policy == RemovalPolicy.DESTROY else None,
        )
        restrict_grants_to_aws_services(self.key)
        self.log_group_arns = LOG_GROUP_ARN_FORMAT.value.format(
            partition=stack.partition,
            region=stack.region,
            account=stack.account,
            name=f"{stack.stack_name}-*",
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisStacksLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=list(LOGS_KEY_ACTIONS.value),
                resources=["*"],
                conditions={"ArnLike": {LOGS_ENCRYPTION_CONTEXT_KEY.value: self.log_group_arns}},
            )
        )


def log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: LogsKey,
    retention_days: int,
    retention_key: str,
    removal_policy: RemovalPolicy,
) -> logs.LogGroup:
    """An unnamed log group encrypted with its stack's logs key, kept `retention_days`.

    `retention_key` is the config key that sets the retention; below what Control Tower asks
    for (CT.CLOUDWATCH.PR.2) the acknowledgment names it.
    """
    if Stack.of(key) is not Stack.of(scope):
        raise ValueError(
            f"{scope.node.path}/{construct_id}: the logs key must be its own stack's (the key "
            "policy names this stack's log groups; Control Tower wants a local reference)"
        )
    group = logs.LogGroup(
        scope,
        construct_id,
        retention=retention(retention_days),
        encryption_key=key.key,
        removal_policy=removal_policy,
    )
    if retention_days < MIN_LOG_RETENTION_DAYS:
        acknowledge_control(
            group,
            "CT.CLOUDWATCH.PR.2",
            f"Retention below a year only where config says so (`{retention_key}`): a "
            "short-lived environment, where a year of logs is storage cost nobody reads; "
            "compensating control: protected profiles keep every log group at least 365 days "
            "(tests/infra/test_shipped_profiles.py).",
        )
    return group
