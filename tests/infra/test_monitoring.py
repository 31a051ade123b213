"""Monitoring construct in isolation: derived thresholds, alarm table, notifications, dashboard."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from cloudwatch_walk import dashboard_bodies
from constructs import Construct
from iam_eval import Environment, allowed, arn_like

from stacks.aws_facts import alarm_arn
from stacks.components.monitoring import GIB, Monitoring, Watched, derive_thresholds
from stacks.config import AppConfig, MonitoringConfig
from stacks.loader import load
from stacks.metric_catalog import CatalogError
from tests.fixture_config import SMALL, fixture_context

pytestmark = pytest.mark.infra

FUNCTION_IDS = ("Orders", "OrdersApi")
ENV = Environment(partition="aws", region="eu-west-1", account="111122223333")
# SMALL: t4g.medium -> max_connections 413, proxy 70 % -> ceiling 289
MAX_CONNECTIONS, PROXY_CEILING = 413, 289


def _config(**monitoring: Any) -> AppConfig:
    context = fixture_context()
    if monitoring:
        context["environments"][SMALL]["monitoring"] = monitoring
    return load(SMALL, context)


CONFIG = _config()  # alarm_email set, thresholds as in tests/fixture_config.py
MON = CONFIG.monitoring


def _functions(stack: cdk.Stack) -> list[lambda_.IFunction]:
    # A bare role keeps the fixture cdk-nag clean without acknowledgments (no managed policies).
    fns: list[lambda_.IFunction] = []
    for name in FUNCTION_IDS:
        role = iam.Role(
            stack, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
        )
        fns.append(
            lambda_.Function(
                stack,
                name,
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler="index.handler",
                code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
                role=role,
            )
        )
    return fns


def _build(
    stack: cdk.Stack, config: AppConfig, functions: list[lambda_.IFunction] | None = None
) -> Monitoring:
    return Monitoring(
        stack,
        "Monitoring",
        watched=Watched(
            proxy_name="orders-proxy",
            database=rds.DatabaseInstance.from_database_instance_attributes(
                stack,
                "Db",
                instance_identifier="orders-db",
                instance_endpoint_address="orders-db.example.com",
                port=5432,
                security_groups=[],
            ),
            http_api=apigwv2.HttpApi.from_http_api_attributes(
                stack, "HttpApi", http_api_id="a1b2c3"
            ),
            functions=_functions(stack) if functions is None else functions,
        ),
        config=config,
    )


@dataclass(frozen=True)
class Built:
    template: Template
    quiet: Template  # no destination at all
    paged: Template  # alarm_topic_arn only
    monitoring: Monitoring
    quiet_stack: cdk.Stack


@pytest.fixture(scope="module")
def built() -> Built:
    app = cdk.App()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "MonitoringTest")
    monitoring = _build(stack, CONFIG)
    quiet_stack = cdk.Stack(app, "MonitoringQuietTest")
    _build(quiet_stack, _config(alarm_destination_required=True))
    paged_stack = cdk.Stack(app, "MonitoringPagedTest")
    _build(paged_stack, _config(alarm_topic_arn="arn:aws:sns:eu-west-1:111122223333:pager"))
    # from_stack synthesizes the app; any unacknowledged cdk-nag finding raises here.
    return Built(
        Template.from_stack(stack),
        Template.from_stack(quiet_stack),
        Template.from_stack(paged_stack),
        monitoring,
        quiet_stack,
    )


def _alarm(template: Template, logical_prefix: str) -> dict[str, Any]:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    matches = {k: v for k, v in alarms.items() if k.startswith(logical_prefix)}
    assert len(matches) == 1, f"{logical_prefix}: {sorted(alarms)}"
    props: dict[str, Any] = next(iter(matches.values()))["Properties"]
    return props


def _dashboard(template: Template) -> dict[str, Any]:
    (body,) = dashboard_bodies(template.to_json()).values()
    return body


def _widget(template: Template, title: str) -> dict[str, Any]:
    widgets = _dashboard(template)["widgets"]
    (widget,) = [w for w in widgets if w.get("properties", {}).get("title") == title]
    return widget


# --- thresholds ------------------------------------------------------------------------------


def test_thresholds_derive_from_max_connections_and_units() -> None:
    t = derive_thresholds(
        MonitoringConfig(db_connections_alarm_percent=80, borrow_latency_ms_threshold=250),
        max_connections=87,
        proxy_ceiling=69,
    )
    assert t.db_connections == 69  # floor(87 * 0.8): alarm at or before the share
    assert t.borrow_latency_us == 250_000
    assert t.free_storage_bytes == 2 * GIB


def test_proxy_ceiling_must_fit_max_connections() -> None:
    with pytest.raises(ValueError, match=r"proxy_ceiling=200 is invalid"):
        derive_thresholds(MonitoringConfig(), max_connections=198, proxy_ceiling=200)


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections=0"):
        derive_thresholds(MonitoringConfig(), max_connections=0, proxy_ceiling=1)


def test_construct_derives_thresholds_from_the_config_budget(built: Built) -> None:
    t = built.monitoring.thresholds
    assert (t.max_connections, t.proxy_ceiling) == (MAX_CONNECTIONS, PROXY_CEILING)
    assert t.db_connections == 351  # floor(413 * 0.85)


# --- notifications: key, topic policy as IAM evaluates it, destinations ------------------------


def _topic_statements(template: Template) -> tuple[str, list[dict[str, Any]]]:
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = ENV.resolve(policy["Properties"]["PolicyDocument"]["Statement"])
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    topic_arn = f"arn:aws:sns:{ENV.region}:{ENV.account}:{topic_id}"
    for statement in statements:  # the topic's own ARN, as Ref resolves it
        statement["Resource"] = topic_arn
    return topic_arn, statements


def _publish(template: Template, *, source_arn: str, source_account: str, tls: bool = True) -> bool:
    topic_arn, statements = _topic_statements(template)
    return allowed(
        statements,
        service="cloudwatch.amazonaws.com",
        action="sns:Publish",
        resource=topic_arn,
        context={
            "aws:SourceArn": source_arn,
            "aws:SourceAccount": source_account,
            "aws:SecureTransport": str(tls).lower(),
        },
    )


def test_an_alarm_of_this_account_may_publish(built: Built) -> None:
    # GIVEN an alarm ARN built the way CloudWatch builds it (colon before the name)
    arn = alarm_arn(partition="aws", region=ENV.region, account=ENV.account, name="DbCpuHigh")
    assert arn == "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:DbCpuHigh"
    # THEN the topic policy lets CloudWatch publish for it
    assert _publish(built.template, source_arn=arn, source_account=ENV.account)


@pytest.mark.parametrize(
    ("region", "account"), [("eu-west-1", "444455556666"), ("us-east-1", "111122223333")]
)
def test_alarms_of_other_accounts_or_regions_may_not(
    built: Built, region: str, account: str
) -> None:
    arn = alarm_arn(partition="aws", region=region, account=account, name="DbCpuHigh")
    assert not _publish(built.template, source_arn=arn, source_account=account)


def test_publishing_without_tls_is_denied(built: Built) -> None:
    arn = alarm_arn(partition="aws", region=ENV.region, account=ENV.account, name="x")
    assert not _publish(built.template, source_arn=arn, source_account=ENV.account, tls=False)


def test_the_old_slash_pattern_never_matched_an_alarm() -> None:
    # The first version allowed aws:SourceArn like ...:alarm/*; CloudWatch sends ...:alarm:<name>.
    real = alarm_arn(partition="aws", region=ENV.region, account=ENV.account, name="DbCpuHigh")
    assert not arn_like(f"arn:aws:cloudwatch:{ENV.region}:{ENV.account}:alarm/*", real)
    assert arn_like(f"arn:aws:cloudwatch:{ENV.region}:{ENV.account}:alarm:*", real)


def test_key_lets_cloudwatch_encrypt_notifications(built: Built) -> None:
    (key,) = built.template.find_resources("AWS::KMS::Key").values()
    statements = ENV.resolve(key["Properties"]["KeyPolicy"]["Statement"])
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allowed(
            statements,
            service="cloudwatch.amazonaws.com",
            action=action,
            resource="*",
            context={},  # nothing documented that CloudWatch sends on these calls
        ), action
    assert key["Properties"]["EnableKeyRotation"] is True
    built.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}}
    )


def test_email_subscription_only_when_configured(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    built.quiet.resource_count_is("AWS::SNS::Subscription", 0)
    built.paged.resource_count_is("AWS::SNS::Subscription", 0)


def test_an_existing_topic_is_notified_too(built: Built) -> None:
    alarms = built.paged.find_resources("AWS::CloudWatch::Alarm")
    (topic_id,) = built.paged.find_resources("AWS::SNS::Topic")
    for props in (a["Properties"] for a in alarms.values()):
        expected = [{"Ref": topic_id}, "arn:aws:sns:eu-west-1:111122223333:pager"]
        assert props["AlarmActions"] == expected
        assert props["OKActions"] == expected


def test_no_destination_is_a_synth_warning_naming_the_keys(built: Built) -> None:
    warnings = Annotations.from_stack(built.quiet_stack).find_warning(
        "*", Match.string_like_regexp("alarm_destination_required is true")
    )
    assert len(warnings) == 1
    assert "alarm_email nor alarm_topic_arn" in json.dumps(warnings[0].entry.data)
    assert not Annotations.from_stack(cdk.Stack.of(built.monitoring)).find_warning(
        "*", Match.string_like_regexp("alarm_email")
    )


# --- alarms ----------------------------------------------------------------------------------

GT = "GreaterThanThreshold"
GTE = "GreaterThanOrEqualToThreshold"
LT = "LessThanThreshold"


@dataclass(frozen=True)
class Expected:
    alarm: str
    namespace: str
    metric: str
    dimensions: dict[str, Any]
    threshold: float
    comparison: str
    periods: int
    statistic: str
    missing: str = "missing"


PROXY = {"ProxyName": "orders-proxy"}
DB = {"DBInstanceIdentifier": "orders-db"}
PLAIN_ALARMS = [
    # floor(413 * 85 / 100): above the proxy's ceiling of 289
    Expected("DbConnectionsHigh", "AWS/RDS", "DatabaseConnections", DB, 351, GT, 3, "Maximum"),
    Expected(
        "ProxySessionPinning",
        "AWS/RDS",
        "DatabaseConnectionsCurrentlySessionPinned",
        PROXY,
        3,
        GT,
        MON.pinned_evaluation_periods,
        "Sum",  # per node: summed, or a multi-node proxy alarms N times too late
    ),
    Expected(
        "ProxyBorrowLatency",
        "AWS/RDS",
        "DatabaseConnectionsBorrowLatency",
        PROXY,
        70_000,  # 70 ms in the metric's microseconds
        GT,
        MON.borrow_latency_evaluation_periods,
        "Average",
    ),
    Expected(
        "ProxyAvailability",
        "AWS/RDS",
        "AvailabilityPercentage",
        {**PROXY, "TargetGroup": "default", "TargetRole": "READWRITE"},
        100,
        LT,
        MON.proxy_availability_evaluation_periods,
        "Average",
        "notBreaching",  # published only after the first successful connection
    ),
    Expected("DbCpuHigh", "AWS/RDS", "CPUUtilization", DB, 65, GT, 5, "Average"),
    Expected(
        "DbFreeStorageLow", "AWS/RDS", "FreeStorageSpace", DB, int(1.5 * GIB), LT, 1, "Minimum"
    ),
    Expected(
        "ApiServerErrors",
        "AWS/ApiGateway",
        "5xx",
        {"ApiId": "a1b2c3"},
        5,
        GTE,
        1,
        "Sum",
        "notBreaching",
    ),
    Expected(
        "DirectServerErrors",
        "FixtureShop",
        "ServerErrors",
        {"service": "shop", "entrypoint": "direct"},
        5,
        GTE,
        1,
        "Sum",
        "notBreaching",
    ),
]


@pytest.mark.parametrize("expected", PLAIN_ALARMS, ids=[a.alarm for a in PLAIN_ALARMS])
def test_alarm_table(built: Built, expected: Expected) -> None:
    props = _alarm(built.template, f"Monitoring{expected.alarm}")
    assert props["Namespace"] == expected.namespace
    assert props["MetricName"] == expected.metric
    assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == expected.dimensions
    assert props["Threshold"] == expected.threshold
    assert props["ComparisonOperator"] == expected.comparison
    assert props["EvaluationPeriods"] == expected.periods
    assert props["Statistic"] == expected.statistic
    assert props["Period"] == MON.period_seconds
    assert props.get("TreatMissingData", "missing") == expected.missing


def test_pool_saturation_is_sum_over_sum_metric_math(built: Built) -> None:
    props = _alarm(built.template, "MonitoringProxyPoolSaturated")
    assert props["Threshold"] == 75  # pool_saturation_percent, against a percentage
    assert props["ComparisonOperator"] == GTE
    queries = {q["Id"]: q for q in props["Metrics"]}
    (expression,) = [q for q in queries.values() if "Expression" in q]
    assert expression["ReturnData"] is True
    assert expression["Expression"] == "100 * used / allowed"
    for query_id, metric in (
        ("used", "DatabaseConnections"),
        ("allowed", "MaxDatabaseConnectionsAllowed"),
    ):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == metric
        assert stat["Metric"]["Dimensions"] == [{"Name": "ProxyName", "Value": "orders-proxy"}]
        assert stat["Stat"] == "Sum"
        assert queries[query_id]["ReturnData"] is False


@pytest.mark.parametrize("fn_id", FUNCTION_IDS)
@pytest.mark.parametrize("kind", ["Throttles", "Errors"])
def test_function_alarms(built: Built, fn_id: str, kind: str) -> None:
    props = _alarm(built.template, f"Monitoring{fn_id}{kind}")
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == kind
    (dimension,) = props["Dimensions"]
    assert dimension["Name"] == "FunctionName"
    assert dimension["Value"]["Ref"].startswith(fn_id)
    assert props["Statistic"] == "Sum"
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == GTE
    assert props["TreatMissingData"] == "notBreaching"


EXPECTED_ALARMS = {
    "DbConnectionsHigh",
    "ProxyPoolSaturated",
    "ProxySessionPinning",
    "ProxyBorrowLatency",
    "ProxyAvailability",
    "DbCpuHigh",
    "DbFreeStorageLow",
    "ApiServerErrors",
    "DirectServerErrors",
    *(f"{f}{k}" for f in FUNCTION_IDS for k in ("Throttles", "Errors")),
}


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(built: Built) -> None:
    alarms = built.template.find_resources("AWS::CloudWatch::Alarm")
    (topic_id,) = built.template.find_resources("AWS::SNS::Topic")
    assert len(alarms) == len(EXPECTED_ALARMS)
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert props["OKActions"] == [{"Ref": topic_id}], logical_id
    assert set(built.monitoring.alarms) == EXPECTED_ALARMS


# --- dashboard -------------------------------------------------------------------------------


def _graphed(template: Template) -> set[tuple[str, str, str]]:
    found = set()
    for widget in _dashboard(template)["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            names = [m for m in metric if isinstance(m, str)]
            if len(names) >= 3:
                found.add((names[0], names[1], names[2]))
    return found


def test_dashboard_shows_concurrency_proxy_errors_and_database_metrics(built: Built) -> None:
    graphed = _graphed(built.template)
    proxy = {
        "ClientConnections",
        "DatabaseConnections",
        "MaxDatabaseConnectionsAllowed",
        "DatabaseConnectionsCurrentlySessionPinned",
        "DatabaseConnectionsBorrowLatency",
        "QueryDatabaseResponseLatency",
        "AvailabilityPercentage",
    }
    db = {"DatabaseConnections", "CPUUtilization", "FreeableMemory", "FreeStorageSpace"}
    lambda_metrics = {"ConcurrentExecutions", "Throttles", "Errors", "Duration"}
    assert {("AWS/RDS", m, "ProxyName") for m in proxy} <= graphed
    assert {("AWS/RDS", m, "DBInstanceIdentifier") for m in db} <= graphed
    assert {("AWS/Lambda", m, "FunctionName") for m in lambda_metrics} <= graphed
    assert ("AWS/ApiGateway", "5xx", "ApiId") in graphed


def test_dashboard_puts_concurrency_next_to_connections(built: Built) -> None:
    graph = _widget(built.template, "Concurrency vs proxy connections")
    names = [[m for m in row if isinstance(m, str)][1] for row in graph["properties"]["metrics"]]
    assert names.count("ConcurrentExecutions") == len(FUNCTION_IDS)
    assert {"ClientConnections", "DatabaseConnections"} <= set(names)


def test_dashboard_pool_widget_is_the_alarmed_ratio(built: Built) -> None:
    graph = _widget(built.template, "Proxy pool in use (%)")
    expressions = [o for row in graph["properties"]["metrics"] for o in row if isinstance(o, dict)]
    assert any(o.get("expression") == "100 * used / allowed" for o in expressions)
    assert {a["value"] for a in graph["properties"]["annotations"]["horizontal"]} == {75}


def test_dashboard_marks_max_connections_and_alarm_threshold(built: Built) -> None:
    graph = _widget(built.template, "DB connections vs max_connections")
    values = {a["value"] for a in graph["properties"]["annotations"]["horizontal"]}
    assert values == {MAX_CONNECTIONS, 351}


def test_dashboard_has_alarm_status_widget(built: Built) -> None:
    (status,) = [w for w in _dashboard(built.template)["widgets"] if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(EXPECTED_ALARMS)


# --- metrics from the constructs -------------------------------------------------------------

OTHER_ENV = cdk.Environment(account=ENV.account, region=ENV.region)


def fn_logical_id(fn: lambda_.IFunction) -> str:
    return cdk.Stack.of(fn).get_logical_id(cast(cdk.CfnElement, fn.node.default_child))


@pytest.mark.parametrize("env", [None, OTHER_ENV], ids=["env-agnostic", "account-and-region"])
def test_a_function_of_another_stack_is_read_through_its_export(
    env: cdk.Environment | None,
) -> None:
    # GIVEN a function of another stack (the data stack's migration function, in the app)
    app = cdk.App()
    data, service = cdk.Stack(app, "Data", env=env), cdk.Stack(app, "Service", env=env)
    (fn,) = _functions(data)[:1]
    _build(service, CONFIG, [fn])
    template = Template.from_stack(service)
    # THEN its metric helper's FunctionName is the import of the data stack's Ref export
    exports = Template.from_stack(data).find_outputs("*")
    (export,) = [
        o["Export"]["Name"] for o in exports.values() if o["Value"] == {"Ref": fn_logical_id(fn)}
    ]
    imported = {"Fn::ImportValue": export}
    for kind in ("Throttles", "Errors"):
        props = _alarm(template, f"MonitoringOrders{kind}")
        assert props["Dimensions"] == [{"Name": "FunctionName", "Value": imported}]
        assert "Metrics" not in props  # a plain alarm, no cross-account/region metric math
    # AND the dashboard graphs it in the dashboard's own account and region (the helper attaches
    # the metric to the function's stack: same environment, so nothing is rendered for it)
    (resource,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = resource["Properties"]["DashboardBody"]["Fn::Join"][1]
    assert imported in parts
    text = "".join(p for p in parts if isinstance(p, str))
    assert '"accountId"' not in text
    assert text.count('"region"') == text.count('"type":"metric"')  # the widgets' own


def test_a_construct_metric_aws_does_not_publish_fails_synth(built: Built) -> None:
    # The helpers' output is checked against the catalog as the metric is made.
    bad = cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions_map={"FunctionName": "f"},
        statistic="p99",
    )
    with pytest.raises(CatalogError, match=r"AWS/Lambda/Errors read with p99: use one of Sum"):
        built.monitoring._checked(bad)


# --- construction errors ---------------------------------------------------------------------


def test_function_labels_come_from_construct_paths() -> None:
    """Functions built by components share ids like "Function"; their paths stay distinct."""
    stack = cdk.Stack(cdk.App(), "Paths")
    fns: list[lambda_.IFunction] = []
    for parent in ("Migration", "Worker"):
        fns.append(
            lambda_.Function(
                Construct(stack, parent),
                "Function",
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler="index.handler",
                code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
            )
        )
    monitoring = _build(stack, CONFIG, fns)
    assert {"MigrationFunctionErrors", "WorkerFunctionThrottles"} <= set(monitoring.alarms)


def test_needs_at_least_one_function() -> None:
    stack = cdk.Stack(cdk.App(), "Empty")
    with pytest.raises(ValueError, match="at least one function"):
        _build(stack, CONFIG, [])


# --- cdk-nag and snapshot --------------------------------------------------------------------


def test_cdk_nag_gate_is_active() -> None:
    """The fixture's clean synth means something only if the same gate rejects a finding."""
    app = cdk.App()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "NagProbe")
    lambda_.Function(  # default role: AWSLambdaBasicExecutionRole -> AwsSolutions-IAM4
        stack,
        "Probe",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
    )
    with pytest.raises(Exception, match=r"AwsSolutions-IAM4"):
        Template.from_stack(stack)


def test_monitoring_needs_no_cdk_nag_acknowledgments(built: Built) -> None:
    """The fixture synthesized under AwsSolutionsChecks with nothing acknowledged anywhere."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    stack = cdk.Stack.of(built.monitoring)
    acknowledged = [
        (node.node.path, entry.data)
        for node in stack.node.root.node.find_all()
        for entry in node.node.metadata
        if entry.type == key
    ]
    assert acknowledged == []


_HASH = re.compile(r"[0-9a-f]{64}")


def test_template_snapshot(built: Built, snapshot: Any) -> None:
    text = _HASH.sub("<asset-hash>", json.dumps(built.template.to_json(), sort_keys=True))
    assert json.loads(text) == snapshot
