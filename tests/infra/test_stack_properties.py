"""Every cap and security property, asserted on templates synthesized from fixture configs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cloudwatch_walk import TOKEN, dashboard_metrics
from infra_support import Synthesized

from orders.contract import ROUTES
from stacks.aws_facts import HTTP_API_MAX_INTEGRATION_TIMEOUT_S
from stacks.budget import connection_budget
from stacks.data_stack import STATEFUL_LOGICAL_IDS
from stacks.outputs import (
    ALARM_TOPIC_ARN,
    API_FUNCTION_NAME,
    DASHBOARD_URL,
    DATA_OUTPUTS,
    DIRECT_FUNCTION_NAME,
    MIGRATION_FUNCTION_NAME,
    SERVICE_OUTPUTS,
)
from tests.fixture_config import APP_NAME, LARGE, SMALL

pytestmark = pytest.mark.infra


def only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource


def props(template: Template, resource_type: str) -> dict[str, Any]:
    return only(template, resource_type)[1]["Properties"]


def function_ids(template: Template) -> dict[str, str]:
    """Handler -> logical id of our functions in one template (the Provider framework's and
    CDK's helper functions excluded); each handler at most once."""
    found: dict[str, str] = {}
    for lid, r in template.find_resources("AWS::Lambda::Function").items():
        handler = r["Properties"]["Handler"]
        if handler.startswith("orders."):
            assert handler not in found, (handler, found[handler], lid)
            found[handler] = lid
    return found


def functions(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Our three functions by handler, from both stacks: the app functions live in the service
    stack, the migration function in the data stack (it bootstraps the app user there)."""
    by_stack = {
        "data": (synth.data, function_ids(synth.data)),
        "service": (synth.service, function_ids(synth.service)),
    }
    assert set(by_stack["data"][1]) == {MIGRATE}
    assert set(by_stack["service"][1]) == {API, DIRECT}
    return {
        handler: template.to_json()["Resources"][lid]
        for template, ids in by_stack.values()
        for handler, lid in ids.items()
    }


API, DIRECT, MIGRATE = (
    "orders.handlers.api.handler",
    "orders.handlers.direct.handler",
    "orders.handlers.migrate.handler",
)


def custom_resource(template: Template, logical_id: str) -> dict[str, Any]:
    """The migration function's custom resource `logical_id`, the only one of its type there."""
    found = template.find_resources("Custom::ShopMigration")
    assert list(found) == [logical_id], sorted(found)
    return found[logical_id]


# --- stateful logical IDs -------------------------------------------------------------------


def test_stateful_resources_keep_their_logical_ids(synth: Synthesized) -> None:
    for resource_type, key in (
        ("AWS::EC2::VPC", "vpc"),
        ("AWS::RDS::DBInstance", "instance"),
        ("AWS::RDS::DBProxy", "proxy"),
    ):
        assert only(synth.data, resource_type)[0] == STATEFUL_LOGICAL_IDS[key]
    # the data key (storage, Performance Insights, secrets) and the flow logs' key
    assert sorted(synth.data.find_resources("AWS::KMS::Key")) == ["DataKey", "LogsKey"]
    assert STATEFUL_LOGICAL_IDS == {
        "key": "DataKey",
        "logs_key": "LogsKey",
        "vpc": "Vpc",
        "instance": "DatabaseInstance",
        "proxy": "DatabaseProxy",
        "cluster": "DatabaseCluster",
        "read_only_endpoint": "DatabaseProxyReadOnlyEndpoint",
    }


def test_stack_ids_follow_the_environment(synth: Synthesized, env_name: str) -> None:
    assert synth.built.data.stack_name == f"{APP_NAME}-{env_name}-Data"
    assert synth.built.service.stack_name == f"{APP_NAME}-{env_name}-Service"


def test_outputs_the_ops_scripts_depend_on(synth: Synthesized) -> None:
    data_outputs = synth.data.to_json()["Outputs"]
    service_outputs = synth.service.to_json()["Outputs"]
    assert set(DATA_OUTPUTS) <= set(data_outputs)
    assert set(SERVICE_OUTPUTS) <= set(service_outputs)
    fns = function_ids(synth.service)
    assert service_outputs[DIRECT_FUNCTION_NAME]["Value"] == {"Ref": fns[DIRECT]}
    assert service_outputs[API_FUNCTION_NAME]["Value"] == {"Ref": fns[API]}
    # The migration function lives in the data stack, and so does its output (an output that
    # only re-exports an import is cfn-lint W6001).
    migrate = function_ids(synth.data)[MIGRATE]
    assert data_outputs[MIGRATION_FUNCTION_NAME]["Value"] == {"Ref": migrate}
    assert MIGRATION_FUNCTION_NAME not in service_outputs


# --- network --------------------------------------------------------------------------------


def test_vpc_has_only_isolated_subnets_and_no_nat(synth: Synthesized) -> None:
    azs = synth.built.config.network.max_azs
    synth.data.resource_count_is("AWS::EC2::NatGateway", 0)
    synth.data.resource_count_is("AWS::EC2::InternetGateway", 0)
    synth.data.resource_count_is("AWS::EC2::Subnet", 2 * azs)  # Data + App per AZ
    synth.data.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})


def test_vpc_flow_logs_capture_all_traffic_with_retention(synth: Synthesized) -> None:
    synth.data.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL"}
    )
    cfg = synth.built.config.network
    synth.data.has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": cfg.flow_log_retention_days}
    )


def test_only_the_configured_interface_endpoints_exist(synth: Synthesized) -> None:
    endpoints = synth.data.find_resources("AWS::EC2::VPCEndpoint")
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints.values())
    configured = synth.built.config.network.interface_endpoints
    assert len(services) == len(configured)
    for name in configured:
        assert any(f".{name}" in service for service in services), (name, services)
    for endpoint in endpoints.values():
        assert endpoint["Properties"]["VpcEndpointType"] == "Interface"
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True


def test_no_security_group_admits_a_cidr(synth: Synthesized) -> None:
    for template in (synth.data, synth.service):
        for sg in template.find_resources("AWS::EC2::SecurityGroup").values():
            for rule in sg["Properties"].get("SecurityGroupIngress", []):
                raise AssertionError(f"inline ingress rule {rule}")
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
            assert "SourceSecurityGroupId" in rule["Properties"], rule


# --- security-group chain: function -> proxy:5432 -> database:5432 --------------------------


def _sg_of(template: Template, logical_prefix: str) -> str:
    matches = [
        lid
        for lid in template.find_resources("AWS::EC2::SecurityGroup")
        if lid.startswith(logical_prefix)
    ]
    assert len(matches) == 1, (logical_prefix, matches)
    return matches[0]


def _ingress_sources(template: Template, target: str) -> list[str]:
    """Logical ids / outputs that appear as sources of ingress rules on `target`."""
    out = []
    for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
        p = rule["Properties"]
        if target in json.dumps(p["GroupId"]):
            out.append(json.dumps(p["SourceSecurityGroupId"]))
    return out


def test_database_admits_only_proxy_and_migration_on_5432(synth: Synthesized) -> None:
    db_sg = _sg_of(synth.data, "DatabaseSecurityGroup")
    proxy_sg = _sg_of(synth.data, "ProxySecurityGroup")
    migration_sg = _sg_of(synth.data, "MigrationFunctionSecurityGroup")
    in_data = synth.data.find_resources("AWS::EC2::SecurityGroupIngress")
    db_rules = [
        r["Properties"] for r in in_data.values() if db_sg in json.dumps(r["Properties"]["GroupId"])
    ]
    # The migration function (in the data stack, next to the database): exactly one rule, 5432.
    migration_rules = [
        r for r in db_rules if migration_sg in json.dumps(r["SourceSecurityGroupId"])
    ]
    assert len(migration_rules) == 1
    assert migration_rules[0]["FromPort"] == migration_rules[0]["ToPort"] == 5432
    # Every other rule admits the proxy.
    proxy_rules = [r for r in db_rules if r not in migration_rules]
    assert proxy_rules, "no proxy ingress on the database group"
    for rule in proxy_rules:
        assert proxy_sg in json.dumps(rule["SourceSecurityGroupId"])
    # Nothing in the service stack reaches the database directly.
    service_rules = [
        r["Properties"]
        for r in synth.service.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if "DatabaseSecurityGroup" in json.dumps(r["Properties"]["GroupId"])
    ]
    assert service_rules == []


def test_app_functions_reach_the_proxy_only(synth: Synthesized) -> None:
    egress = synth.service.find_resources("AWS::EC2::SecurityGroupEgress")
    for prefix in ("FunctionsApiSecurityGroup", "FunctionsDirectSecurityGroup"):
        sg = _sg_of(synth.service, prefix)
        rules = [
            r["Properties"] for r in egress.values() if sg in json.dumps(r["Properties"]["GroupId"])
        ]
        destinations = {(json.dumps(r["DestinationSecurityGroupId"]), r["FromPort"]) for r in rules}
        assert any("ProxySecurityGroup" in d and port == 5432 for d, port in destinations)
        assert not any("DatabaseSecurityGroup" in d for d, _ in destinations), destinations
        for dest, port in destinations:
            assert ("ProxySecurityGroup" in dest and port == 5432) or (
                "EndpointSg" in dest and port == 443
            ), (dest, port)
        sg_props = synth.service.find_resources("AWS::EC2::SecurityGroup")[sg]["Properties"]
        assert "SecurityGroupEgress" not in sg_props or all(
            r.get("CidrIp") == "255.255.255.255/32" for r in sg_props["SecurityGroupEgress"]
        )


def test_proxy_egress_only_to_the_database(synth: Synthesized) -> None:
    proxy_sg = _sg_of(synth.data, "ProxySecurityGroup")
    egress = [
        r["Properties"]
        for r in synth.data.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if proxy_sg in json.dumps(r["Properties"]["GroupId"])
    ]
    assert egress
    for rule in egress:
        assert "DatabaseSecurityGroup" in json.dumps(rule["DestinationSecurityGroupId"])
    app_ingress = _ingress_sources(synth.service, "ProxySecurityGroup")
    assert len(app_ingress) == 2
    assert all("Functions" in s for s in app_ingress)


# --- database -------------------------------------------------------------------------------


def test_database_security_properties(synth: Synthesized) -> None:
    synth.data.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^1[7-9]\.\d+$"),
            "StorageType": "gp3",
            "StorageEncrypted": True,
            "KmsKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]},
            "PubliclyAccessible": False,
            "EnableIAMDatabaseAuthentication": True,
            "ManageMasterUserPassword": True,
            "MasterUserSecret": {"KmsKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]}},
            "EnablePerformanceInsights": True,
            "PerformanceInsightsKMSKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]},
            "EnableCloudwatchLogsExports": Match.array_with(["postgresql", "iam-db-auth-error"]),
            "AutoMinorVersionUpgrade": False,
        },
    )
    synth.data.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_parameter_group_forces_tls_and_logs(synth: Synthesized) -> None:
    cfg = synth.built.config.database
    synth.data.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Parameters": Match.object_like(
                {
                    "rds.force_ssl": "1",
                    "log_min_duration_statement": str(cfg.log_min_duration_statement_ms),
                    "log_connections": "1",
                }
            )
        },
    )


def test_database_log_exports_have_retention(synth: Synthesized) -> None:
    days = synth.built.config.database.log_retention_days
    retention = synth.data.find_resources("Custom::LogRetention")
    assert len(retention) == 3
    for r in retention.values():
        assert r["Properties"]["RetentionInDays"] == days


def test_a_single_az_profile_is_cheap_and_destroyable(
    synthesized: dict[str, Synthesized],
) -> None:
    dev = synthesized[SMALL]
    _, db = only(dev.data, "AWS::RDS::DBInstance")
    assert db["Properties"]["MultiAZ"] is False
    assert db["Properties"]["DeletionProtection"] is False
    assert db["DeletionPolicy"] == "Delete"
    assert db["Properties"]["BackupRetentionPeriod"] == 2
    keys = dev.data.find_resources("AWS::KMS::Key").values()
    assert [key["DeletionPolicy"] for key in keys] == ["Delete", "Delete"]


def test_a_protected_profile_is_multi_az_and_kept(synthesized: dict[str, Synthesized]) -> None:
    prod = synthesized[LARGE]
    _, db = only(prod.data, "AWS::RDS::DBInstance")
    assert db["Properties"]["MultiAZ"] is True
    assert db["Properties"]["DeletionProtection"] is True
    assert db["DeletionPolicy"] in {"Snapshot", "Retain"}
    assert db["UpdateReplacePolicy"] in {"Snapshot", "Retain"}
    assert db["Properties"]["BackupRetentionPeriod"] == 9
    keys = prod.data.find_resources("AWS::KMS::Key").values()
    assert [key["DeletionPolicy"] for key in keys] == ["Retain", "Retain"]
    assert len(prod.data.find_resources("AWS::EC2::Subnet")) == 6  # 3 AZs


# --- proxy ----------------------------------------------------------------------------------


def test_proxy_requires_iam_and_tls_without_debug_logging(synth: Synthesized) -> None:
    synth.data.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "EngineFamily": "POSTGRESQL",
            "RequireTLS": True,
            "DebugLogging": False,
            "DefaultAuthScheme": "IAM_AUTH",
            "Auth": Match.absent(),
            "VpcSubnetIds": Match.any_value(),
        },
    )


def test_proxy_pool_caps_come_from_config(synth: Synthesized) -> None:
    px = synth.built.config.proxy
    synth.data.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {
            "ConnectionPoolConfigurationInfo": {
                "MaxConnectionsPercent": px.max_connections_percent,
                "MaxIdleConnectionsPercent": px.max_idle_connections_percent,
                "ConnectionBorrowTimeout": px.borrow_timeout_s,
            }
        },
    )
    synth.data.has_resource_properties(
        "AWS::RDS::DBProxy", {"IdleClientTimeout": px.idle_client_timeout_s}
    )
    assert px.max_connections_percent < 100
    assert px.borrow_timeout_s < synth.built.config.functions.timeout_s
    budget = connection_budget(synth.built.config)
    assert budget.headroom >= budget.headroom_min


def test_proxy_role_may_connect_as_the_app_user_only(synth: Synthesized) -> None:
    user = synth.built.config.proxy.app_db_user
    policies = synth.data.find_resources(
        "AWS::IAM::Policy",
        {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("^ProxyRole")}]}},
    )
    assert len(policies) == 1
    (policy,) = policies.values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    resource = json.dumps(statement["Resource"])
    assert '":dbuser:", {"Fn::GetAtt": ["DatabaseInstance", "DbiResourceId"]}' in resource
    assert resource.endswith(f'"/{user}"]]}}')


def test_secrets_mode_uses_an_app_secret_and_still_requires_iam(secrets_mode: Synthesized) -> None:
    t = secrets_mode.data
    t.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "RequireTLS": True,
            "DefaultAuthScheme": Match.absent(),
            "Auth": [Match.object_like({"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED"})],
        },
    )
    t.has_resource_properties(
        "AWS::SecretsManager::Secret", {"KmsKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    )
    env = functions(secrets_mode)[MIGRATE]["Properties"]["Environment"]["Variables"]
    assert env["DB_AUTH_MODE"] == "secrets"
    assert "APP_USER_SECRET_ARN" in env
    # The proxy reaches Secrets Manager through the endpoint.
    proxy_egress = [
        r["Properties"]
        for r in t.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if "ProxySecurityGroup" in json.dumps(r["Properties"]["GroupId"])
    ]
    assert any(r["FromPort"] == 443 for r in proxy_egress)


# --- functions ------------------------------------------------------------------------------


def test_functions_runtime_architecture_tracing_timeouts(synth: Synthesized) -> None:
    cfg = synth.built.config.functions
    arch = {"arm64": "arm64", "x86_64": "x86_64"}[cfg.architecture]
    fns = functions(synth)  # the migration function in the data stack, the others in the service
    assert set(fns) == {API, DIRECT, MIGRATE}
    for handler, fn in fns.items():
        p = fn["Properties"]
        assert p["Runtime"] == "python3.14"
        assert p["Architectures"] == [arch]
        assert ("TracingConfig" in p) is cfg.tracing
        assert "VpcConfig" in p
        assert p["LoggingConfig"]["LogGroup"]
        expected = cfg.migration_timeout_s if handler == MIGRATE else cfg.timeout_s
        assert p["Timeout"] == expected


def test_reserved_concurrency_caps_each_function(synth: Synthesized) -> None:
    cfg = synth.built.config.functions
    fns = functions(synth)
    assert fns[API]["Properties"]["ReservedConcurrentExecutions"] == cfg.api_reserved_concurrency
    assert (
        fns[DIRECT]["Properties"]["ReservedConcurrentExecutions"] == cfg.direct_reserved_concurrency
    )
    assert fns[MIGRATE]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_function_log_groups_have_retention(synth: Synthesized) -> None:
    days = synth.built.config.functions.log_retention_days
    for template, prefixes in (
        (synth.service, ("FunctionsApiLogGroup", "FunctionsDirectLogGroup")),
        (synth.data, ("MigrationFunctionLogGroup", "MigrationProviderLogGroup")),
    ):
        groups = template.find_resources("AWS::Logs::LogGroup")
        by_id = {lid: g["Properties"].get("RetentionInDays") for lid, g in groups.items()}
        for lid in prefixes:
            (match,) = [v for k, v in by_id.items() if k.startswith(lid)]
            assert match == days
        assert all(v is not None for v in by_id.values()), by_id


def test_app_functions_get_proxy_endpoint_and_user(synth: Synthesized) -> None:
    cfg = synth.built.config
    for handler in (API, DIRECT):
        env = functions(synth)[handler]["Properties"]["Environment"]["Variables"]
        assert set(env) == {
            "DB_HOST",
            "DB_PORT",
            "DB_NAME",
            "DB_USER",
            "DB_CONNECT_TIMEOUT_S",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "POWERTOOLS_LOG_LEVEL",
        }
        assert "DatabaseProxyEndpoint" in json.dumps(env["DB_HOST"])
        assert env["DB_USER"] == cfg.proxy.app_db_user
        assert env["DB_PORT"] == "5432"
        assert env["DB_CONNECT_TIMEOUT_S"] == str(cfg.functions.connect_timeout_s)


def test_migration_function_settings(synth: Synthesized) -> None:
    cfg = synth.built.config
    env = functions(synth)[MIGRATE]["Properties"]["Environment"]["Variables"]
    # Same stack as the database: plain GetAtts of the instance, no cross-stack import.
    instance = STATEFUL_LOGICAL_IDS["instance"]
    assert env["DB_HOST"] == {"Fn::GetAtt": [instance, "Endpoint.Address"]}
    assert env["DB_ADMIN_SECRET_ARN"] == {"Fn::GetAtt": [instance, "MasterUserSecret.SecretArn"]}
    assert env["APP_DB_USER"] == cfg.proxy.app_db_user
    assert env["DB_AUTH_MODE"] == "iam"
    assert "APP_USER_SECRET_ARN" not in env
    assert env["APP_STATEMENT_TIMEOUT_MS"] == "6000"
    assert env["APP_LOCK_TIMEOUT_MS"] == "1500"
    assert env["APP_IDLE_IN_TRANSACTION_TIMEOUT_MS"] == "20000"


def test_app_functions_hold_rds_db_connect_on_the_proxy_for_one_user(synth: Synthesized) -> None:
    user = synth.built.config.proxy.app_db_user
    (policy_id, policy) = only(synth.data, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    resource = json.dumps(statement["Resource"])
    assert '{"Fn::GetAtt": ["DatabaseProxy", "DBProxyArn"]}' in resource
    assert resource.endswith(f'"/{user}"]]}}')
    roles = {
        **synth.service.find_resources("AWS::IAM::Role"),
        **synth.data.find_resources("AWS::IAM::Role"),  # the migration function's role is here
    }
    holders = [lid for lid, r in roles.items() if policy_id in json.dumps(r["Properties"])]
    assert sorted(h.split("ServiceRole")[0] for h in holders) == ["FunctionsApi", "FunctionsDirect"]
    # No inline rds-db grant anywhere in the service stack, nor on the migration function's or
    # its provider's roles (they moved to the data stack; only the proxy's role has one there).
    assert "rds-db" not in json.dumps(synth.service.find_resources("AWS::IAM::Policy"))
    migration_policies = {
        lid: p
        for lid, p in synth.data.find_resources("AWS::IAM::Policy").items()
        if lid.startswith("Migration")
    }
    assert len(migration_policies) == 2, sorted(migration_policies)  # function and provider
    assert "rds-db" not in json.dumps(migration_policies)


def test_migration_reads_only_the_admin_secret(synth: Synthesized) -> None:
    policies = synth.data.find_resources("AWS::IAM::Policy")
    (policy,) = [p for lid, p in policies.items() if lid.startswith("MigrationFunctionServiceRole")]
    assert not [
        lid for lid in synth.service.find_resources("AWS::IAM::Policy") if "Migration" in lid
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    secret = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert len(secret) == 1
    assert "MasterUserSecret" in json.dumps(secret[0]["Resource"])
    kms = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert kms
    assert "kms:ViaService" in json.dumps(kms[0]["Condition"])


def test_migration_custom_resource_reruns_on_source_or_settings_change(synth: Synthesized) -> None:
    # The data stack's bootstrap runs the roles step: source and role settings are its triggers.
    bootstrap = custom_resource(synth.data, "AppUserBootstrap")["Properties"]
    assert bootstrap["Step"] == "roles"
    assert re.fullmatch(r"[0-9a-f]{64}", bootstrap["SourceHash"])
    assert bootstrap["APP_DB_USER"] == synth.built.config.proxy.app_db_user
    assert bootstrap["DB_AUTH_MODE"] == "iam"
    # The service stack's schema migration runs the schema step: the same source hash, and no
    # role setting (a retuned role must not re-run the SQL migrations).
    schema = custom_resource(synth.service, "SchemaMigration")["Properties"]
    assert schema["Step"] == "schema"
    assert schema["SourceHash"] == bootstrap["SourceHash"]
    assert not {"APP_DB_USER", "DB_AUTH_MODE"} & set(schema)


# --- API ------------------------------------------------------------------------------------


def test_api_routes_require_iam(synth: Synthesized) -> None:
    routes = synth.service.find_resources("AWS::ApiGatewayV2::Route")
    keys = sorted(r["Properties"]["RouteKey"] for r in routes.values())
    assert keys == sorted(route.route_key for route in ROUTES)
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_api_integration_timeout_and_payload_v2(synth: Synthesized) -> None:
    ms = synth.built.config.api.integration_timeout_s * 1000
    synth.service.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {"PayloadFormatVersion": "2.0", "TimeoutInMillis": ms},
    )
    assert (
        synth.built.config.functions.timeout_s * 1000
        <= ms
        <= HTTP_API_MAX_INTEGRATION_TIMEOUT_S.value * 1000
    )


def test_api_stage_has_access_logs_and_throttling(synth: Synthesized) -> None:
    cfg = synth.built.config.api
    synth.service.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "AccessLogSettings": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("requestId"),
            },
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": cfg.throttle_burst_limit,
                "ThrottlingRateLimit": cfg.throttle_rate_limit,
            },
        },
    )


# --- monitoring -----------------------------------------------------------------------------


def _alarm_props(synth: Synthesized, name: str) -> dict[str, Any]:
    alarms = synth.service.find_resources("AWS::CloudWatch::Alarm")
    found = [r["Properties"] for k, r in alarms.items() if k.startswith(f"Monitoring{name}")]
    assert len(found) == 1, f"{name}: {sorted(alarms)}"
    return found[0]


def test_every_function_and_the_proxy_and_database_are_alarmed(synth: Synthesized) -> None:
    alarms = synth.service.find_resources("AWS::CloudWatch::Alarm")
    # 7 proxy/database alarms, API 5xx, direct ServerErrors, throttles and errors per function
    assert len(alarms) == 7 + 2 + 2 * 3
    topic_id, _ = only(synth.service, "AWS::SNS::Topic")
    external = synth.built.config.monitoring.alarm_topic_arn
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}] + (
            [external] if external else []
        )
    synth.service.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_connection_alarms_derive_from_the_budget(synth: Synthesized) -> None:
    # GIVEN the environment's connection budget and alarm policy
    config = synth.built.config
    budget = connection_budget(config)
    mon = config.monitoring
    # THEN the DB alarm sits above the proxy's ceiling and the pool alarm is the share itself
    db_alarm = _alarm_props(synth, "DbConnectionsHigh")
    assert db_alarm["Threshold"] == budget.max_connections * mon.db_connections_alarm_percent // 100
    assert budget.proxy_ceiling < db_alarm["Threshold"] < budget.max_connections
    pool_alarm = _alarm_props(synth, "ProxyPoolSaturated")
    assert pool_alarm["Threshold"] == mon.pool_saturation_percent
    proxy_ref = {"Fn::ImportValue": Match.string_like_regexp("DatabaseProxy")}
    for query in pool_alarm["Metrics"]:
        if "MetricStat" in query:
            (dimension,) = query["MetricStat"]["Metric"]["Dimensions"]
            assert dimension["Name"] == "ProxyName"
            assert Match.object_like(proxy_ref).test(dimension["Value"]).is_success


def test_proxy_availability_is_read_under_the_dimension_values_cloudwatch_publishes(
    synth: Synthesized,
) -> None:
    # GIVEN the data stack's export of the proxy's name, which the service stack imports
    proxy_id, _ = only(synth.data, "AWS::RDS::DBProxy")
    (export,) = [
        o["Export"]["Name"]
        for o in synth.data.find_outputs("*").values()
        if o["Value"] == {"Ref": proxy_id} and "Export" in o
    ]
    # THEN the alarm and the dashboard read the series AWS publishes, values written out here:
    # CloudWatch's TargetRole is READWRITE ("RDS Proxy monitoring dashboard" page; series seen in
    # yet-another-cloudwatch-exporter PR #1501); the RDS API's READ_WRITE never has data.
    alarm = _alarm_props(synth, "ProxyAvailability")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/RDS", "AvailabilityPercentage")
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "ProxyName": {"Fn::ImportValue": export},
        "TargetGroup": "default",
        "TargetRole": "READWRITE",
    }
    graphed = [
        use.dimensions
        for use in dashboard_metrics(synth.service.to_json())
        if use.name == "AvailabilityPercentage"
    ]
    assert graphed
    for dimensions in graphed:
        assert dimensions == {
            "ProxyName": TOKEN,
            "TargetGroup": "default",
            "TargetRole": "READWRITE",
        }


def test_alarm_topic_is_encrypted_and_tls_only(synth: Synthesized) -> None:
    topic = props(synth.service, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    policy = props(synth.service, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy
    )


def test_service_stack_outputs_the_dashboard_and_topic(synth: Synthesized) -> None:
    outputs = synth.service.find_outputs("*")
    assert {ALARM_TOPIC_ARN, DASHBOARD_URL} <= set(outputs)


def test_tracing_is_lambda_active_tracing_only(
    synthesized: dict[str, Synthesized],
) -> None:
    # GIVEN a profile with tracing off (small) and one with it on (large)
    for env, tracing in ((SMALL, False), (LARGE, True)):
        assert synthesized[env].built.config.functions.tracing is tracing
        ours = [fn["Properties"] for fn in functions(synthesized[env]).values()]
        assert len(ours) == 3
        for fn in ours:
            # THEN Lambda records the invocations itself; no tracing SDK switch in the function
            assert "POWERTOOLS_TRACE_DISABLED" not in fn["Environment"]["Variables"]
            assert ("TracingConfig" in fn) is tracing
