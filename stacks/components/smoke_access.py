"""The role the deploy workflow's `make smoke` runs as: exactly what ops/smoke.py calls."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, CfnElement, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from orders import contract
from stacks.aws_facts import (
    CLOUDWATCH_READS_WITHOUT_RESOURCES,
    IAM_ROLE_MAX_SESSION_S,
    RDS_DESCRIBE_RESOURCE_TYPES,
    RDS_DESCRIBE_UNNAMED_RESOURCE,
    rds_arn_resource,
)
from stacks.components.github_oidc import role_arn
from stacks.components.nag import acknowledge
from stacks.outputs import CLUSTER_READ_ACTIONS

# The route ops/smoke.py calls through the API (signed with the smoke role's credentials).
SMOKE_ROUTE = contract.LIST_CUSTOMER_ORDERS
# Every IAM action ops/smoke.py needs, by what it calls (tests/ops/test_ci_scripts.py records
# the calls of a smoke run and compares). An Aurora environment's smoke also reads the cluster:
# AURORA_SMOKE_ACTIONS.
SMOKE_ACTIONS = (
    "cloudformation:DescribeStacks",
    "cloudformation:ListStackResources",
    "lambda:InvokeFunction",
    "execute-api:Invoke",
    "cloudwatch:DescribeAlarms",
    *CLOUDWATCH_READS_WITHOUT_RESOURCES.value,
)
AURORA_SMOKE_ACTIONS = (*SMOKE_ACTIONS, *CLUSTER_READ_ACTIONS)


def route_pattern(route: contract.Route) -> str:
    """An API Gateway route as an execute-api resource path: each {parameter} becomes *."""
    return re.sub(r"\{[^}]+\}", "*", route.path)


@dataclass(frozen=True)
class SmokedCluster:
    """The resources ops/cluster_checks.py names in its calls, by IAM resource type (the RDS
    Service Authorization Reference's: cluster, proxy, target-group)."""

    cluster_arn: str
    proxy_arn: str
    target_group_arn: str

    def named(self) -> dict[str, str]:
        return {
            "cluster": self.cluster_arn,
            "proxy": self.proxy_arn,
            "target-group": self.target_group_arn,
        }

    def unnamed_kinds(self) -> list[str]:
        """The resource types the cluster checks need but name nothing of (granted as `*`)."""
        needed = {
            kind for a in CLUSTER_READ_ACTIONS for kind in RDS_DESCRIBE_RESOURCE_TYPES.value[a]
        }
        return sorted(needed - set(self.named()))


@dataclass(frozen=True)
class Smoked:
    """What the smoke check touches in one environment."""

    data_stack_name: str
    functions: Sequence[lambda_.IFunction]
    http_api: apigwv2.HttpApi
    alarms: Sequence[cloudwatch.IAlarm]
    # Aurora: the cluster checks' reads (ops/cluster_checks.py) are granted too.
    cluster: SmokedCluster | None = None


class SmokeAccess(Construct):
    """Smoke-check role of an environment that `ci.environments` deploys.

    Creates `role`, named `name` (the CI access stack and the deploy workflow name it, so the
    name is explicit), trusted by this account only for a caller whose aws:PrincipalArn is
    exactly the environment's CI deploy role (which must also be allowed to assume it, and is:
    stacks/components/github_oidc.py). One-hour sessions. It may: DescribeStacks on the data
    and service stacks and ListStackResources on the service stack; invoke the functions the
    smoke check invokes; execute-api:Invoke the smoke route of this API's $default stage;
    DescribeAlarms on this stack's alarms; ListMetrics and GetMetricData, which take no
    resource. On Aurora also the cluster checks' four rds:Describe reads
    (stacks/outputs.CLUSTER_READ_ACTIONS), each on the resource types the RDS authorization
    reference lists for it (aws_facts.RDS_DESCRIBE_RESOURCE_TYPES): the cluster, the proxy and
    its target group by ARN; the instances and the proxy endpoints, which the calls do not name
    (a cluster filter; all of the proxy's endpoints), as `db:*` and `db-proxy-endpoint:*` of
    this account and Region. Nothing else of another environment: every other ARN is this
    environment's own.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        trusted_role: str,
        smoked: Smoked,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # By name: CloudFormation assigns the ID part when it creates the stack.
        data_stack, service_stack = (
            stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{n}/*")
            for n in (smoked.data_stack_name, Aws.STACK_NAME)
        )
        statements = [
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[data_stack, service_stack]
            ),
            iam.PolicyStatement(
                actions=["cloudformation:ListStackResources"], resources=[service_stack]
            ),
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[fn.function_arn for fn in smoked.functions],
            ),
            iam.PolicyStatement(
                actions=["execute-api:Invoke"],
                resources=[
                    smoked.http_api.arn_for_execute_api(
                        SMOKE_ROUTE.method, route_pattern(SMOKE_ROUTE), "$default"
                    )
                ],
            ),
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[alarm.alarm_arn for alarm in smoked.alarms],
            ),
            iam.PolicyStatement(
                actions=list(CLOUDWATCH_READS_WITHOUT_RESOURCES.value), resources=["*"]
            ),
        ]
        if smoked.cluster is not None:
            statements += self._cluster_reads(smoked.cluster)
        self.role = iam.Role(
            self,
            "Role",
            role_name=name,
            description=f"make smoke from the deploy workflow (assumed by {trusted_role})",
            assumed_by=iam.AccountPrincipal(Aws.ACCOUNT_ID).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": role_arn(trusted_role)}}
            ),
            max_session_duration=Duration.seconds(IAM_ROLE_MAX_SESSION_S.value),
            inline_policies={"Smoke": iam.PolicyDocument(statements=statements)},
        )
        self._acknowledge(smoked)

    def _cluster_reads(self, cluster: SmokedCluster) -> list[iam.PolicyStatement]:
        """One statement per cluster-check action, on an ARN of each resource type it needs:
        the resource the call names, else that type's ARN for an unnamed resource."""
        named = cluster.named()
        return [
            iam.PolicyStatement(
                actions=[action],
                resources=[
                    named[kind] if kind in named else self._unnamed_arn(kind)
                    for kind in RDS_DESCRIBE_RESOURCE_TYPES.value[action]
                ],
            )
            for action in CLUSTER_READ_ACTIONS
        ]

    def _unnamed_arn(self, kind: str) -> str:
        return Stack.of(self).format_arn(
            service="rds",
            resource=rds_arn_resource(kind),
            resource_name=RDS_DESCRIBE_UNNAMED_RESOURCE.value,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _acknowledge(self, smoked: Smoked) -> None:
        api = smoked.http_api.node.default_child
        assert isinstance(api, CfnElement)  # noqa: S101  # an HttpApi's own CfnApi
        api_id = Stack.of(self).get_logical_id(api)
        prefix = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>"
        region_account = "<AWS::Region>:<AWS::AccountId>"
        reasons = {
            **dict.fromkeys(
                (
                    f"{prefix}:cloudformation:{region_account}:stack/{name}/*]"
                    for name in (smoked.data_stack_name, "<AWS::StackName>")
                ),
                "the stack's name is exact; only the ID CloudFormation assigns at creation is "
                "open; compensating control: read-only (DescribeStacks, ListStackResources), "
                "and only the environment's CI deploy role may assume this role",
            ),
            f"{prefix}:execute-api:{region_account}:<{api_id}>/$default/"
            f"{SMOKE_ROUTE.method}{route_pattern(SMOKE_ROUTE)}]": (
                "this API, its $default stage, one method and one route; the wildcard is the "
                "route's path parameter; compensating control: a read route, and only the "
                "environment's CI deploy role may assume this role"
            ),
            "AwsSolutions-IAM5[Resource::*]": (
                "cloudwatch:ListMetrics and GetMetricData support no resource-level permission "
                "(stacks/aws_facts.py CLOUDWATCH_READS_WITHOUT_RESOURCES); compensating "
                "control: metric reads only, and only the environment's CI deploy role may "
                "assume this role"
            ),
        }
        if smoked.cluster is not None:
            reasons |= dict.fromkeys(
                (
                    f"{prefix}:rds:{region_account}:{rds_arn_resource(kind)}:*]"
                    for kind in smoked.cluster.unnamed_kinds()
                ),
                "DescribeDBInstances with a cluster filter and DescribeDBProxyEndpoints for one "
                "proxy name no instance or endpoint, and RDS authorizes such a call on the "
                "type's ARN with '*' (stacks/aws_facts.py RDS_DESCRIBE_UNNAMED_RESOURCE); "
                "compensating control: List-level reads of this account and Region only, the "
                "cluster, proxy and target group are exact ARNs, and only the environment's CI "
                "deploy role may assume this role",
            )
        for rule, reason in reasons.items():
            acknowledge(self.role, rule, reason)
