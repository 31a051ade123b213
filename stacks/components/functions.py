"""The sample Lambda functions that reach PostgreSQL only through RDS Proxy."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk.aws_lambda import Function
from constructs import Construct

from orders import contract
from stacks.components.logs import LogsKey, log_group
from stacks.components.nag import acknowledge, acknowledge_control
from stacks.config import FunctionsConfig, ProjectConfig

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def vpc_python_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    function: str,
    code: lambda_.Code,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    logs_key: LogsKey,
    config: FunctionsConfig,
    timeout_s: int,
    reserved_concurrency: int,
    environment: dict[str, str | int],
) -> lambda_.Function:
    """A VPC function with its own egress-less security group and an encrypted log group.

    ``function`` names it in orders.contract (its handler and the environment it must get);
    ``environment`` is checked against the contract.
    """
    security_group = ec2.SecurityGroup(
        scope,
        f"{construct_id}SecurityGroup",
        vpc=vpc,
        description=f"Lambda {scope.node.id}/{construct_id}: egress only to what it is granted",
        allow_all_outbound=False,
    )
    logs = log_group(
        scope,
        f"{construct_id}LogGroup",
        key=logs_key,
        retention_days=config.log_retention_days,
        retention_key="functions.log_retention_days",
        removal_policy=RemovalPolicy.DESTROY,
    )
    fn = lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURES[config.architecture],
        handler=contract.HANDLERS[function],
        code=code,
        memory_size=config.memory_mb,
        timeout=Duration.seconds(timeout_s),
        reserved_concurrent_executions=reserved_concurrency,
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=[security_group],
        log_group=logs,
        # Lambda active tracing records each invocation with no SDK in the function.
        tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
        environment=contract.environment(function, environment),
    )
    _acknowledge_role(fn, tracing=config.tracing)
    if Stack.of(vpc) is not Stack.of(scope):
        _acknowledge_imported_subnets(fn)
    return fn


def _acknowledge_imported_subnets(fn: lambda_.Function) -> None:
    acknowledge_control(
        fn,
        "CT.LAMBDA.PR.3",
        "The function is in the VPC: its VpcConfig lists the data stack's App subnets through "
        "Fn::ImportValue and its own security group, and the rule reads only literal subnet IDs "
        "or references within the stack; compensating control: a test asserts that every "
        "subnet it imports is an App subnet of the data stack (tests/infra/"
        "test_control_tower.py).",
    )


def powertools_environment(
    function: str, project: ProjectConfig, config: FunctionsConfig
) -> dict[str, str | int]:
    """The POWERTOOLS_* variables the contract gives ``function`` (Powertools reads them)."""
    values: dict[str, str | int] = {
        contract.POWERTOOLS_SERVICE_NAME.name: project.service_name,
        contract.POWERTOOLS_METRICS_NAMESPACE.name: project.metrics_namespace,
        contract.POWERTOOLS_LOG_LEVEL.name: config.log_level,
    }
    wanted = {v.name for v in contract.variables_for(function) if v.read_by == "powertools"}
    return {name: value for name, value in values.items() if name in wanted}


def _acknowledge_role(fn: lambda_.Function, *, tracing: bool) -> None:
    role = fn.role
    assert role is not None  # noqa: S101 - a Function without a given role always creates one
    for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
        acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{policy}]",
            f"{policy} is the AWS-maintained minimum for a VPC function (own log stream, ENI "
            "management); compensating controls: the role trusts only lambda.amazonaws.com and "
            "every data-plane permission is a separate, resource-scoped statement.",
        )
    if tracing:
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
            "compensating control: the wildcard covers only those two write-only X-Ray actions.",
        )


def _hosts(endpoint: str, read_endpoint: str | None) -> dict[str, str]:
    """DB_HOST, and DB_READ_HOST when there is a read-only endpoint (Aurora readers)."""
    reads = {} if read_endpoint is None else {contract.DB_READ_HOST.name: read_endpoint}
    return {contract.DB_HOST.name: endpoint, **reads}


class Functions(Construct):
    """The orders API and direct-invoke functions.

    Creates: two VPC functions (newest Python runtime, configurable architecture, reserved
    concurrency as the client-side cap, timeout, X-Ray tracing, log groups with retention,
    encrypted with the stack's logs key). Each
    has its own security group whose only egress is the proxy port (plus HTTPS to interface
    endpoints the stack grants), holds rds-db:connect on this proxy for one DB user, and gets
    the proxy endpoint (and the read-only endpoint when there is one: DB_READ_HOST) and DB user
    through environment variables. No path to the database.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        logs_key: LogsKey,
        code: lambda_.Code,
        proxy: rds.DatabaseProxy,
        read_endpoint: str | None = None,
        connect_policy: iam.IManagedPolicy,
        proxy_security_group: ec2.ISecurityGroup,
        port: int,
        database_name: str,
        app_db_user: str,
        project: ProjectConfig,
        config: FunctionsConfig,
    ) -> None:
        super().__init__(scope, construct_id)

        def make(function: str, function_id: str, description: str, reserved: int) -> Function:
            return vpc_python_function(
                self,
                function_id,
                description=description,
                function=function,
                code=code,
                vpc=vpc,
                subnets=subnets,
                logs_key=logs_key,
                config=config,
                timeout_s=config.timeout_s,
                reserved_concurrency=reserved,
                environment={
                    **_hosts(proxy.endpoint, read_endpoint),
                    contract.DB_PORT.name: port,
                    contract.DB_NAME.name: database_name,
                    contract.DB_USER.name: app_db_user,
                    contract.DB_CONNECT_TIMEOUT_S.name: config.connect_timeout_s,
                    **powertools_environment(function, project, config),
                },
            )

        self.api = make(
            contract.API,
            "Api",
            f"{project.service_name} HTTP API (payload v2) -> RDS Proxy (IAM, TLS)",
            config.api_reserved_concurrency,
        )
        self.direct = make(
            contract.DIRECT,
            "Direct",
            f"{project.service_name} direct invoke (JSON) -> RDS Proxy (IAM, TLS)",
            config.direct_reserved_concurrency,
        )
        for fn in (self.api, self.direct):
            fn.role.add_managed_policy(connect_policy)  # type: ignore[union-attr]
            fn.connections.allow_to(proxy_security_group, ec2.Port.tcp(port), "to RDS Proxy")
