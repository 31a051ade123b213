"""Functions, Migration and Api constructs in isolation, built from fixture config sections.

(Migration is wired by the data stack, which runs its roles step; the service stack runs its
schema step through the same provider. It is tested here with the other function construct.)

Each construct goes into a bare, environment-agnostic stack under cdk-nag with stand-ins for
what the data tier would pass it (service_support.py; here also an RDS Proxy in front of an
imported instance), so a fork that changes one component sees that component's tests fail.
The stand-ins need no cdk-nag acknowledgment: a stack's acknowledgments are its construct's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk.assertions import Template
from iam_eval import Environment
from service_support import (
    ADMIN_SECRET_ARN,
    APP_SECRET_ARN,
    CODE,
    DB_HOST,
    KEY_ARN,
    PORT,
    SMALL_CONFIG,
    MigrationBuilt,
    acknowledgments,
    bare_stack,
    build_migration,
    logical_id,
    logs_key,
    small_network,
)

from orders import contract
from stacks.app_builder import LAMBDA_SRC
from stacks.components.api import Api
from stacks.components.functions import Functions
from stacks.components.migration import source_hash
from stacks.components.network import Network
from stacks.config import AppConfig
from stacks.loader import load
from tests.fixture_config import LARGE, SMALL, fixture_context

pytestmark = pytest.mark.infra

LARGE_CONFIG = load(LARGE, fixture_context())
# LARGE traces (an X-Ray grant and its acknowledgment); secrets mode adds the app-user secret.
LARGE_SECRETS_CONFIG = load(LARGE, fixture_context(large={"proxy": {"auth_mode": "secrets"}}))
ENV = Environment()  # what CloudFormation substitutes for AWS::Region etc.

_MANAGED = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"
BASIC = _MANAGED.format("AWSLambdaBasicExecutionRole")
VPC_ACCESS = _MANAGED.format("AWSLambdaVPCAccessExecutionRole")
XRAY = "AwsSolutions-IAM5[Resource::*]"
# What an egress-less security group carries until it gets a rule: no traffic at all.
NO_EGRESS_PLACEHOLDER = ("icmp", 252, 86, "255.255.255.255/32")
AWS_MANAGED_POLICIES = [
    f"arn:aws:iam::aws:policy/service-role/{name}"
    for name in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole")
]
XRAY_STATEMENT = {
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Effect": "Allow",
    "Resource": "*",
}


def _resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in template.find_resources(resource_type).items()}


def _function(template: Template, function: str) -> tuple[str, dict[str, Any]]:
    """The Lambda function whose handler is `function`'s in orders.contract."""
    return _function_by_handler(template, contract.HANDLERS[function])


def _function_by_handler(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (lid, r["Properties"])
        for lid, r in _resources(template, "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == handler
    ]
    assert len(matches) == 1, f"{handler}: {[lid for lid, _ in matches]}"
    return matches[0]


def _security_group_of(props: dict[str, Any]) -> str:
    (group,) = props["VpcConfig"]["SecurityGroupIds"]
    return str(group["Fn::GetAtt"][0])


def _rule(props: dict[str, Any], peer_key: str) -> tuple[Any, ...]:
    peer = props.get(peer_key, props.get("CidrIp"))
    peer = peer["Fn::GetAtt"][0] if isinstance(peer, dict) else peer
    return (props["IpProtocol"], props.get("FromPort"), props.get("ToPort"), peer)


def _rules(template: Template, group: str, direction: str) -> set[tuple[Any, ...]]:
    """Every `direction` ("Egress"/"Ingress") rule of `group`: inline ones and separate ones."""
    resources = template.to_json()["Resources"]
    inline = resources[group]["Properties"].get(f"SecurityGroup{direction}", [])
    separate = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == f"AWS::EC2::SecurityGroup{direction}"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    peer = "DestinationSecurityGroupId" if direction == "Egress" else "SourceSecurityGroupId"
    return {_rule(p, peer) for p in [*inline, *separate]} - {NO_EGRESS_PLACEHOLDER}


def egress(template: Template, group: str) -> set[tuple[Any, ...]]:
    return _rules(template, group, "Egress")


def ingress(template: Template, group: str) -> set[tuple[Any, ...]]:
    return _rules(template, group, "Ingress")


def _retention_of_log_group(template: Template, props: dict[str, Any]) -> int:
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    return int(template.to_json()["Resources"][log_group]["Properties"]["RetentionInDays"])


def _managed_policies(template: Template, function_props: dict[str, Any]) -> list[Any]:
    role = function_props["Role"]["Fn::GetAtt"][0]
    policies: list[Any] = template.to_json()["Resources"][role]["Properties"]["ManagedPolicyArns"]
    return [ENV.resolve(p) for p in policies]


def _inline_statements(template: Template, function_props: dict[str, Any]) -> list[Any]:
    """The statements of every inline policy on the function's role ([] when it has none)."""
    role = function_props["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in ENV.resolve(policy["Properties"]["PolicyDocument"]["Statement"])
    ]


# --- Functions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionsBuilt:
    config: AppConfig
    stack: cdk.Stack
    template: Template
    functions: Functions
    proxy_sg: str
    proxy: str
    connect_policy: str


def _proxy_stand_in(
    stack: cdk.Stack, network: Network
) -> tuple[rds.DatabaseProxy, ec2.SecurityGroup]:
    """An IAM-auth RDS Proxy with its own security group, in front of an imported instance."""
    vpc = network.vpc
    database_sg = ec2.SecurityGroup(stack, "DatabaseSg", vpc=vpc, allow_all_outbound=False)
    proxy_sg = ec2.SecurityGroup(stack, "ProxySg", vpc=vpc, allow_all_outbound=False)
    instance = rds.DatabaseInstance.from_database_instance_attributes(
        stack,
        "Instance",
        instance_endpoint_address=DB_HOST,
        instance_identifier="shop-db",
        port=PORT,
        security_groups=[database_sg],
        engine=rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of("17.9", "17")
        ),
    )
    proxy = rds.DatabaseProxy(
        stack,
        "Proxy",
        proxy_target=rds.ProxyTarget.from_instance(instance),
        vpc=vpc,
        vpc_subnets=network.data_subnets,
        security_groups=[proxy_sg],
        iam_auth=True,
        require_tls=True,
        default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
    )
    return proxy, proxy_sg


def _functions(name: str, config: AppConfig) -> FunctionsBuilt:
    stack = bare_stack(name)
    network = small_network(stack)
    proxy, proxy_sg = _proxy_stand_in(stack, network)
    connect_policy = iam.ManagedPolicy(
        stack,
        "ConnectPolicy",
        statements=[
            iam.PolicyStatement(
                actions=["rds-db:connect"],
                resources=["arn:aws:rds-db:eu-west-1:111122223333:dbuser:prx-0123/shop_app"],
            )
        ],
    )
    functions = Functions(
        stack,
        "Functions",
        vpc=network.vpc,
        subnets=network.app_subnets,
        logs_key=logs_key(stack),
        code=CODE,
        proxy=proxy,
        connect_policy=connect_policy,
        proxy_security_group=proxy_sg,
        port=PORT,
        database_name=config.database.database_name,
        app_db_user=config.proxy.app_db_user,
        project=config.project,
        config=config.functions,
    )
    # from_stack synthesizes the app; any unacknowledged cdk-nag finding raises here.
    template = Template.from_stack(stack)
    ids = (logical_id(proxy_sg), logical_id(proxy), logical_id(connect_policy))
    return FunctionsBuilt(config, stack, template, functions, *ids)


@pytest.fixture(scope="module")
def small_functions() -> FunctionsBuilt:
    return _functions("SmallFunctions", SMALL_CONFIG)


@pytest.fixture(scope="module")
def large_functions() -> FunctionsBuilt:
    return _functions("LargeFunctions", LARGE_CONFIG)


@pytest.fixture(scope="module", params=[SMALL, LARGE])
def functions(
    request: pytest.FixtureRequest, small_functions: FunctionsBuilt, large_functions: FunctionsBuilt
) -> FunctionsBuilt:
    return small_functions if request.param == SMALL else large_functions


APP_FUNCTIONS = (contract.API, contract.DIRECT)


def test_functions_are_the_configured_runtime_architecture_memory_and_timeout(
    functions: FunctionsBuilt,
) -> None:
    arch = "x86_64" if functions.config is SMALL_CONFIG else "arm64"
    assert functions.config.functions.architecture == arch
    for function in APP_FUNCTIONS:
        _, props = _function(functions.template, function)
        assert props["Runtime"] == "python3.14", function
        assert props["Architectures"] == [arch], function
        assert props["MemorySize"] == 384, function
        assert props["Timeout"] == 14, function
    functions.template.resource_count_is("AWS::Lambda::Function", 2 + 1)  # + the VPC's helper


@pytest.mark.parametrize(
    ("config", "api", "direct"), [(SMALL_CONFIG, 7, 3), (LARGE_CONFIG, 120, 30)], ids=[SMALL, LARGE]
)
def test_each_function_has_its_own_reserved_concurrency(
    small_functions: FunctionsBuilt,
    large_functions: FunctionsBuilt,
    config: AppConfig,
    api: int,
    direct: int,
) -> None:
    built = small_functions if config is SMALL_CONFIG else large_functions
    reserved = {
        fn: _function(built.template, fn)[1]["ReservedConcurrentExecutions"] for fn in APP_FUNCTIONS
    }
    assert reserved == {contract.API: api, contract.DIRECT: direct}


def test_function_log_groups_keep_the_configured_retention(functions: FunctionsBuilt) -> None:
    for function in APP_FUNCTIONS:
        _, props = _function(functions.template, function)
        assert _retention_of_log_group(functions.template, props) == 5, function


def test_tracing_config_only_when_tracing_is_on(
    small_functions: FunctionsBuilt, large_functions: FunctionsBuilt
) -> None:
    assert (SMALL_CONFIG.functions.tracing, LARGE_CONFIG.functions.tracing) == (False, True)
    for function in APP_FUNCTIONS:
        _, quiet = _function(small_functions.template, function)
        assert "TracingConfig" not in quiet, function
        assert _inline_statements(small_functions.template, quiet) == [], function
        _, traced = _function(large_functions.template, function)
        assert traced["TracingConfig"] == {"Mode": "Active"}, function
        assert _inline_statements(large_functions.template, traced) == [XRAY_STATEMENT]


def test_function_egress_is_only_the_proxy_port(functions: FunctionsBuilt) -> None:
    groups = set()
    for function in APP_FUNCTIONS:
        _, props = _function(functions.template, function)
        group = _security_group_of(props)
        groups.add(group)
        assert egress(functions.template, group) == {("tcp", PORT, PORT, functions.proxy_sg)}
    assert len(groups) == 2  # a group per function
    # The proxy admits each of them on the port (the other half of allow_to).
    assert ingress(functions.template, functions.proxy_sg) == {
        ("tcp", PORT, PORT, group) for group in groups
    }


def test_both_roles_hold_the_connect_policy_and_nothing_more(functions: FunctionsBuilt) -> None:
    for function in APP_FUNCTIONS:
        _, props = _function(functions.template, function)
        assert _managed_policies(functions.template, props) == [
            *AWS_MANAGED_POLICIES,
            {"Ref": functions.connect_policy},
        ], function


@pytest.mark.parametrize("function", APP_FUNCTIONS)
def test_environment_is_what_the_contract_gives_the_function(
    functions: FunctionsBuilt, function: str
) -> None:
    _, props = _function(functions.template, function)
    variables = props["Environment"]["Variables"]
    # Every variable the stack sets, except the optional DB_READ_HOST: these functions are
    # built without a read-only endpoint (tests/infra/test_aurora_stack.py covers it).
    stack_set = {v.name for v in contract.variables_for(function, set_by="stack")}
    assert set(variables) == stack_set - {contract.DB_READ_HOST.name}
    assert variables == {
        "DB_HOST": {"Fn::GetAtt": [functions.proxy, "Endpoint"]},
        "DB_PORT": str(PORT),
        "DB_NAME": "shopdb",
        "DB_USER": "shop_app",
        "DB_CONNECT_TIMEOUT_S": "3",
        "POWERTOOLS_SERVICE_NAME": "shop",
        "POWERTOOLS_METRICS_NAMESPACE": "FixtureShop",
        "POWERTOOLS_LOG_LEVEL": functions.config.functions.log_level,
    }
    assert functions.config.functions.log_level == (
        "DEBUG" if functions.config is SMALL_CONFIG else "INFO"
    )


def test_functions_acknowledge_only_their_roles_findings(functions: FunctionsBuilt) -> None:
    expected = {
        (f"Functions/{fn}/ServiceRole", rule)
        for fn in ("Api", "Direct")
        for rule in (BASIC, VPC_ACCESS)
    }
    if functions.config.functions.tracing:
        expected |= {
            (f"Functions/{fn}/ServiceRole/DefaultPolicy", XRAY) for fn in ("Api", "Direct")
        }
    found = acknowledgments(functions.stack)
    assert set(found) == expected
    assert all("compensating control" in reason for reason in found.values())


# --- Migration -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_migration() -> MigrationBuilt:
    built = build_migration("SmallMigration", SMALL_CONFIG)
    assert built.template  # synthesized under cdk-nag here, not in the first test
    return built


@pytest.fixture(scope="module")
def large_secrets_migration() -> MigrationBuilt:
    built = build_migration("LargeSecretsMigration", LARGE_SECRETS_CONFIG)
    assert built.template
    return built


@pytest.fixture(scope="module", params=["small", "large-secrets"])
def migration(
    request: pytest.FixtureRequest,
    small_migration: MigrationBuilt,
    large_secrets_migration: MigrationBuilt,
) -> MigrationBuilt:
    return small_migration if request.param == "small" else large_secrets_migration


def test_migration_runs_alone_with_its_own_timeout(migration: MigrationBuilt) -> None:
    _, props = _function(migration.template, contract.MIGRATE)
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Timeout"] == 90
    assert props["MemorySize"] == 384
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == [migration.config.functions.architecture]
    assert props.get("TracingConfig") == (
        {"Mode": "Active"} if migration.config.functions.tracing else None
    )
    assert _retention_of_log_group(migration.template, props) == 5


def test_migration_reaches_the_database_directly_and_secrets_manager_only(
    migration: MigrationBuilt,
) -> None:
    _, props = _function(migration.template, contract.MIGRATE)
    group = _security_group_of(props)
    assert egress(migration.template, group) == {
        ("tcp", PORT, PORT, migration.database_sg),
        ("tcp", 443, 443, migration.endpoint_sg),
    }
    assert ingress(migration.template, migration.database_sg) == {("tcp", PORT, PORT, group)}


def test_migration_reads_its_secrets_and_decrypts_only_via_secrets_manager(
    migration: MigrationBuilt,
) -> None:
    _, props = _function(migration.template, contract.MIGRATE)
    secrets = [ADMIN_SECRET_ARN]
    if migration.config.proxy.auth_mode == "secrets":
        secrets.append(APP_SECRET_ARN)
    expected = [
        {
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Effect": "Allow",
            "Resource": secrets[0] if len(secrets) == 1 else secrets,
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{ENV.region}.amazonaws.com"}
            },
            "Effect": "Allow",
            "Resource": KEY_ARN,
        },
    ]
    if migration.config.functions.tracing:
        expected.insert(0, XRAY_STATEMENT)
    assert _inline_statements(migration.template, props) == expected
    # It logs in with the admin password: no rds-db:connect, only the AWS-managed policies.
    assert _managed_policies(migration.template, props) == AWS_MANAGED_POLICIES


def test_migration_environment_is_what_the_contract_gives_it(migration: MigrationBuilt) -> None:
    _, props = _function(migration.template, contract.MIGRATE)
    variables = props["Environment"]["Variables"]
    secrets_mode = migration.config.proxy.auth_mode == "secrets"
    assert set(variables) == {
        v.name
        for v in contract.variables_for(contract.MIGRATE, set_by="stack")
        if v.required or secrets_mode
    }
    expected = {
        "DB_HOST": DB_HOST,
        "DB_PORT": str(PORT),
        "DB_NAME": "shopdb",
        "DB_ADMIN_SECRET_ARN": ADMIN_SECRET_ARN,
        "DB_CONNECT_TIMEOUT_S": "3",
        "POWERTOOLS_SERVICE_NAME": "shop",
        "POWERTOOLS_LOG_LEVEL": migration.config.functions.log_level,
        "APP_DB_USER": "shop_app",
        "DB_AUTH_MODE": migration.config.proxy.auth_mode,
        "APP_STATEMENT_TIMEOUT_MS": "6000",
        "APP_LOCK_TIMEOUT_MS": "1500",
        "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "20000",
    }
    if secrets_mode:
        expected["APP_USER_SECRET_ARN"] = APP_SECRET_ARN
    assert variables == expected


def test_migration_is_a_provider_framework_custom_resource(migration: MigrationBuilt) -> None:
    fn_id, _ = _function(migration.template, contract.MIGRATE)
    on_event_id, on_event = _function_by_handler(migration.template, "framework.onEvent")
    assert on_event["Environment"]["Variables"] == {
        "USER_ON_EVENT_FUNCTION_ARN": {"Fn::GetAtt": [fn_id, "Arn"]}
    }
    assert "VpcConfig" not in on_event  # it only calls the Lambda API
    assert _retention_of_log_group(migration.template, on_event) == 5
    # onEvent only: no isComplete poller, so no state machine.
    migration.template.resource_count_is("AWS::StepFunctions::StateMachine", 0)
    # One provider serves both steps' custom resources, and nothing else.
    assert set(migration.resources) == set(contract.MIGRATION_STEPS)
    for step in contract.MIGRATION_STEPS:
        service_token = migration.custom_resource(step)["Properties"]["ServiceToken"]
        assert service_token == {"Fn::GetAtt": [on_event_id, "Arn"]}, step
    served = [
        r
        for r in migration.template.to_json()["Resources"].values()
        if r.get("Properties", {}).get("ServiceToken") == {"Fn::GetAtt": [on_event_id, "Arn"]}
    ]
    assert len(served) == len(contract.MIGRATION_STEPS)


def test_the_construct_alone_creates_no_custom_resource() -> None:
    # A step runs only where a stack asks for it (run_step), in the stack that asks.
    built = build_migration("NoStep", SMALL_CONFIG, steps={})
    resources = Template.from_stack(built.stack).to_json()["Resources"].values()
    assert not [r for r in resources if r["Type"].startswith("Custom::Shop")]


def test_an_unknown_step_is_refused(small_migration: MigrationBuilt) -> None:
    with pytest.raises(ValueError, match="'seed' is not one of"):
        small_migration.migration.run_step(small_migration.stack, "Seed", "seed")


ROLE_SETTINGS = {
    "APP_DB_USER": "shop_app",
    "APP_STATEMENT_TIMEOUT_MS": "6000",
    "APP_LOCK_TIMEOUT_MS": "1500",
    "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "20000",
}
TARGET = {"DB_HOST": DB_HOST, "DB_PORT": str(PORT), "DB_NAME": "shopdb"}


def test_custom_resources_carry_step_source_hash_role_settings_and_target(
    small_migration: MigrationBuilt,
) -> None:
    for step in contract.MIGRATION_STEPS:
        assert small_migration.custom_resource(step)["Type"] == "Custom::ShopMigration", step
    # The roles step (data stack): the role settings and the target are its triggers.
    assert small_migration.trigger(contract.ROLES_STEP) == {
        "Step": "roles",
        "SourceHash": source_hash(LAMBDA_SRC),
        **ROLE_SETTINGS,
        "DB_AUTH_MODE": "iam",
        **TARGET,
    }
    # The schema step (service stack): the same source hash and target, no role setting.
    assert small_migration.trigger(contract.SCHEMA_STEP) == {
        "Step": "schema",
        "SourceHash": source_hash(LAMBDA_SRC),
        **TARGET,
    }


def test_in_secrets_mode_only_the_roles_step_names_the_app_user_secret(
    large_secrets_migration: MigrationBuilt,
) -> None:
    assert large_secrets_migration.trigger(contract.ROLES_STEP) == {
        "Step": "roles",
        "SourceHash": source_hash(LAMBDA_SRC),
        **ROLE_SETTINGS,
        "DB_AUTH_MODE": "secrets",
        "APP_USER_SECRET_ARN": APP_SECRET_ARN,
        **TARGET,
    }
    assert large_secrets_migration.trigger(contract.SCHEMA_STEP) == {
        "Step": "schema",
        "SourceHash": source_hash(LAMBDA_SRC),
        **TARGET,
    }


def test_custom_resource_type_follows_the_service_name() -> None:
    project = replace(SMALL_CONFIG.project, service_name="books")
    built = build_migration("BooksMigration", replace(SMALL_CONFIG, project=project))
    for step, custom in built.resources.items():
        resource = custom.node.default_child
        assert isinstance(resource, cdk.CfnResource), step
        assert resource.cfn_resource_type == "Custom::BooksMigration", step


def test_migration_acknowledges_only_its_roles_and_the_provider_framework(
    migration: MigrationBuilt,
) -> None:
    fn_id = logical_id(migration.migration.function)
    provider = "Migration/Provider/framework-onEvent/ServiceRole"
    expected = {
        ("Migration/Function/ServiceRole", BASIC),
        ("Migration/Function/ServiceRole", VPC_ACCESS),
        (provider, BASIC),
        (f"{provider}/DefaultPolicy", f"AwsSolutions-IAM5[Resource::<{fn_id}.Arn>:*]"),
    }
    if migration.config.functions.tracing:
        expected.add(("Migration/Function/ServiceRole/DefaultPolicy", XRAY))
    found = acknowledgments(migration.stack)
    assert set(found) == expected
    assert all("compensating control" in reason for reason in found.values())


# --- Api -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiBuilt:
    stack: cdk.Stack
    template: Template
    api: Api
    handler: str


@pytest.fixture(scope="module")
def api() -> ApiBuilt:
    stack = bare_stack("Api")
    # A bare role keeps the handler stand-in cdk-nag clean without acknowledgments.
    role = iam.Role(stack, "HandlerRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    handler = lambda_.Function(
        stack,
        "Handler",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=CODE,
        role=role,
    )
    built = Api(stack, "Api", handler=handler, logs_key=logs_key(stack), config=SMALL_CONFIG.api)
    return ApiBuilt(stack, Template.from_stack(stack), built, logical_id(handler))


def _api_id(api: ApiBuilt) -> str:
    (api_id,) = _resources(api.template, "AWS::ApiGatewayV2::Api")
    return api_id


def test_routes_are_the_contract_routes_all_iam_authorized(api: ApiBuilt) -> None:
    routes = [
        r["Properties"] for r in _resources(api.template, "AWS::ApiGatewayV2::Route").values()
    ]
    assert sorted(r["RouteKey"] for r in routes) == sorted(r.route_key for r in contract.ROUTES)
    (integration_id,) = _resources(api.template, "AWS::ApiGatewayV2::Integration")
    for route in routes:
        assert route["AuthorizationType"] == "AWS_IAM", route["RouteKey"]
        assert route["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}


def test_integration_is_lambda_proxy_payload_v2_with_the_configured_timeout(api: ApiBuilt) -> None:
    (integration,) = _resources(api.template, "AWS::ApiGatewayV2::Integration").values()
    props = integration["Properties"]
    assert props["IntegrationType"] == "AWS_PROXY"
    assert props["PayloadFormatVersion"] == "2.0"
    assert props["TimeoutInMillis"] == 20_000
    assert props["IntegrationUri"] == {"Fn::GetAtt": [api.handler, "Arn"]}


def test_api_gateway_may_invoke_the_handler_for_this_api_only(api: ApiBuilt) -> None:
    permissions = _resources(api.template, "AWS::Lambda::Permission").values()
    assert len(permissions) == len(contract.ROUTES)
    for permission in permissions:
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["FunctionName"] == {"Fn::GetAtt": [api.handler, "Arn"]}
        assert {"Ref": _api_id(api)} in props["SourceArn"]["Fn::Join"][1]


def test_default_stage_throttles_and_logs_json_with_retention(api: ApiBuilt) -> None:
    (stage,) = _resources(api.template, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 22, "ThrottlingRateLimit": 11}
    logs_id = logical_id(api.api.access_log_group)
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [logs_id, "Arn"]}
    fields = json.loads(props["AccessLogSettings"]["Format"])
    assert {"requestId", "routeKey", "status", "integrationError"} <= set(fields)
    assert all(value.startswith("$context.") for value in fields.values())
    log_group = api.template.to_json()["Resources"][logs_id]["Properties"]
    assert log_group["RetentionInDays"] == 3


def test_api_needs_no_acknowledgment(api: ApiBuilt) -> None:
    assert acknowledgments(api.stack) == {}
