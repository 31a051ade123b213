"""Monitoring construct: dashboard metrics, derived alarm thresholds, encrypted topic, cdk-nag."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.components.monitoring import (
    GIB,
    Monitoring,
    MonitoringConfig,
    derive_thresholds,
)

pytestmark = pytest.mark.infra

MAX_CONNECTIONS = 87  # a t4g.micro-sized budget; deliberately not a round number
PROXY_CEILING = 69  # 80 % of it
CONFIG = MonitoringConfig(alarm_email="oncall@example.com")
FUNCTION_IDS = ("Orders", "OrdersApi")


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


def _build(stack: cdk.Stack, config: MonitoringConfig) -> Monitoring:
    return Monitoring(
        stack,
        "Monitoring",
        proxy_name="orders-proxy",
        db_instance_identifier="orders-db",
        functions=_functions(stack),
        thresholds=derive_thresholds(
            config, max_connections=MAX_CONNECTIONS, proxy_ceiling=PROXY_CEILING
        ),
    )


@dataclass(frozen=True)
class Built:
    template: Template
    quiet: Template  # same construct without alarm_email
    monitoring: Monitoring


@pytest.fixture(scope="module")
def built() -> Built:
    app = cdk.App()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "MonitoringTest")
    monitoring = _build(stack, CONFIG)
    quiet_stack = cdk.Stack(app, "MonitoringQuietTest")
    _build(quiet_stack, MonitoringConfig())
    # from_stack synthesizes the app; any unacknowledged cdk-nag finding raises here.
    return Built(Template.from_stack(stack), Template.from_stack(quiet_stack), monitoring)


def _alarm(template: Template, logical_prefix: str) -> dict[str, Any]:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    matches = {k: v for k, v in alarms.items() if k.startswith(logical_prefix)}
    assert len(matches) == 1, f"{logical_prefix}: {sorted(alarms)}"
    props: dict[str, Any] = next(iter(matches.values()))["Properties"]
    return props


def _dashboard_body(template: Template) -> dict[str, Any]:
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = next(iter(dashboards.values()))["Properties"]["DashboardBody"]
    # The body is Fn::Join of literal strings and tokens; tokens become placeholders.
    parts = body["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    result: dict[str, Any] = json.loads(text)
    return result


def _dashboard_metrics(template: Template) -> set[tuple[str, str, str]]:
    """(namespace, metric name, dimension name) of every graphed metric."""
    found: set[tuple[str, str, str]] = set()
    for widget in _dashboard_body(template)["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            names = [m for m in metric if isinstance(m, str)]
            found.add((names[0], names[1], names[2]))
    return found


# --- thresholds ------------------------------------------------------------------------------


def test_thresholds_derive_from_max_connections_and_units() -> None:
    t = derive_thresholds(
        MonitoringConfig(db_connections_alarm_percent=80, borrow_latency_ms_threshold=250),
        max_connections=87,
        proxy_ceiling=PROXY_CEILING,
    )
    assert t.db_connections == 69  # floor(87 * 0.8): alarm at or before the share
    assert t.borrow_latency_us == 250_000
    assert t.free_storage_bytes == 2 * GIB


def test_pool_saturation_rounds_up_from_the_proxy_ceiling() -> None:
    t = derive_thresholds(
        MonitoringConfig(pool_saturation_percent=90), max_connections=198, proxy_ceiling=158
    )
    assert t.pool_saturation == 143  # ceil(158 * 0.9) = ceil(142.2)
    assert t.proxy_ceiling == 158


def test_proxy_ceiling_must_fit_max_connections() -> None:
    with pytest.raises(ValueError, match=r"proxy_ceiling=200 is invalid"):
        derive_thresholds(MonitoringConfig(), max_connections=198, proxy_ceiling=200)


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections=0"):
        derive_thresholds(MonitoringConfig(), max_connections=0, proxy_ceiling=1)


# --- topic -----------------------------------------------------------------------------------


def test_topic_is_kms_encrypted_with_rotating_key(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}}
    )
    built.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_key_lets_cloudwatch_encrypt_notifications(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_topic_policy_denies_insecure_transport(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "sns:Publish",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_email_subscription_only_when_configured(built: Built) -> None:
    built.template.resource_count_is("AWS::SNS::Subscription", 1)
    built.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    built.quiet.resource_count_is("AWS::SNS::Subscription", 0)


# --- alarms ----------------------------------------------------------------------------------

GT = "GreaterThanThreshold"
GTE = "GreaterThanOrEqualToThreshold"
LT = "LessThanThreshold"


@dataclass(frozen=True)
class Expected:
    logical_prefix: str
    metric: str
    dimension: str
    threshold: float
    comparison: str
    periods: int
    statistic: str


PLAIN_ALARMS = [
    Expected(
        "MonitoringDbConnectionsHigh",
        "DatabaseConnections",
        "DBInstanceIdentifier",
        78,  # floor(87 * 90 / 100): above the proxy's ceiling of 69
        GT,
        CONFIG.db_connections_evaluation_periods,
        "Maximum",
    ),
    Expected(
        "MonitoringProxyPoolSaturated",
        "DatabaseConnections",
        "ProxyName",
        63,  # ceil(69 * 90 / 100)
        GTE,
        CONFIG.pool_saturation_evaluation_periods,
        "Maximum",
    ),
    Expected(
        "MonitoringProxySessionPinning",
        "DatabaseConnectionsCurrentlySessionPinned",
        "ProxyName",
        CONFIG.pinned_connections_threshold,
        GT,
        CONFIG.pinned_evaluation_periods,
        "Maximum",
    ),
    Expected(
        "MonitoringProxyBorrowLatency",
        "DatabaseConnectionsBorrowLatency",
        "ProxyName",
        CONFIG.borrow_latency_ms_threshold * 1000,  # the metric is in microseconds
        GT,
        CONFIG.borrow_latency_evaluation_periods,
        "Average",
    ),
    Expected(
        "MonitoringProxyAvailability",
        "AvailabilityPercentage",
        "ProxyName",
        100,
        LT,
        CONFIG.proxy_availability_evaluation_periods,
        "Minimum",
    ),
    Expected(
        "MonitoringDbCpuHigh",
        "CPUUtilization",
        "DBInstanceIdentifier",
        CONFIG.db_cpu_percent,
        GT,
        CONFIG.db_cpu_evaluation_periods,
        "Average",
    ),
    Expected(
        "MonitoringDbFreeStorageLow",
        "FreeStorageSpace",
        "DBInstanceIdentifier",
        int(CONFIG.free_storage_gib * GIB),
        LT,
        CONFIG.free_storage_evaluation_periods,
        "Minimum",
    ),
]


@pytest.mark.parametrize("expected", PLAIN_ALARMS, ids=[a.logical_prefix for a in PLAIN_ALARMS])
def test_proxy_and_db_alarm_thresholds(built: Built, expected: Expected) -> None:
    props = _alarm(built.template, expected.logical_prefix)
    assert props["Namespace"] == "AWS/RDS"
    assert props["MetricName"] == expected.metric
    assert [d["Name"] for d in props["Dimensions"]] == [expected.dimension]
    assert props["Threshold"] == expected.threshold
    assert props["ComparisonOperator"] == expected.comparison
    assert props["EvaluationPeriods"] == expected.periods
    assert props["Statistic"] == expected.statistic
    assert props["Period"] == CONFIG.period_seconds


def test_db_connections_threshold_follows_max_connections() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Bigger")
    Monitoring(
        stack,
        "Monitoring",
        proxy_name="p",
        db_instance_identifier="d",
        functions=_functions(stack),
        thresholds=derive_thresholds(
            MonitoringConfig(db_connections_alarm_percent=90),
            max_connections=856,
            proxy_ceiling=727,
        ),
    )
    props = _alarm(Template.from_stack(stack), "MonitoringDbConnectionsHigh")
    assert props["Threshold"] == 770  # floor(856 * 0.9)


def test_proxy_availability_treats_missing_data_as_breaching(built: Built) -> None:
    assert _alarm(built.template, "MonitoringProxyAvailability")["TreatMissingData"] == "breaching"


@pytest.mark.parametrize("fn_id", FUNCTION_IDS)
@pytest.mark.parametrize(
    ("kind", "threshold"),
    [("Throttles", CONFIG.lambda_throttles_threshold), ("Errors", CONFIG.lambda_errors_threshold)],
)
def test_function_alarms(built: Built, fn_id: str, kind: str, threshold: int) -> None:
    props = _alarm(built.template, f"Monitoring{fn_id}{kind}")
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == kind
    (dimension,) = props["Dimensions"]
    assert dimension["Name"] == "FunctionName"
    assert dimension["Value"]["Ref"].startswith(fn_id)
    assert props["Statistic"] == "Sum"
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == GTE
    assert props["EvaluationPeriods"] == CONFIG.lambda_evaluation_periods
    assert props["TreatMissingData"] == "notBreaching"


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(built: Built) -> None:
    alarms = built.template.find_resources("AWS::CloudWatch::Alarm")
    topics = built.template.find_resources("AWS::SNS::Topic")
    (topic_id,) = topics
    assert len(alarms) == 7 + 2 * len(FUNCTION_IDS)
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert props["OKActions"] == [{"Ref": topic_id}], logical_id
    assert set(built.monitoring.alarms) == {
        "DbConnectionsHigh",
        "ProxyPoolSaturated",
        "ProxySessionPinning",
        "ProxyBorrowLatency",
        "ProxyAvailability",
        "DbCpuHigh",
        "DbFreeStorageLow",
        *(f"{f}{k}" for f in FUNCTION_IDS for k in ("Throttles", "Errors")),
    }


# --- dashboard -------------------------------------------------------------------------------


def test_dashboard_shows_concurrency_proxy_and_database_metrics(built: Built) -> None:
    metrics = _dashboard_metrics(built.template)
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
    assert {("AWS/RDS", m, "ProxyName") for m in proxy} <= metrics
    assert {("AWS/RDS", m, "DBInstanceIdentifier") for m in db} <= metrics
    assert {("AWS/Lambda", m, "FunctionName") for m in lambda_metrics} <= metrics


def test_dashboard_puts_concurrency_next_to_connections(built: Built) -> None:
    widgets = _dashboard_body(built.template)["widgets"]
    (graph,) = [
        w for w in widgets if w.get("properties", {}).get("title") == "Concurrency vs connections"
    ]
    names = [
        [m for m in metric if isinstance(m, str)][1] for metric in graph["properties"]["metrics"]
    ]
    assert names.count("ConcurrentExecutions") == len(FUNCTION_IDS)
    assert {"ClientConnections", "DatabaseConnections"} <= set(names)


def test_dashboard_marks_max_connections_and_alarm_threshold(built: Built) -> None:
    widgets = _dashboard_body(built.template)["widgets"]
    (graph,) = [
        w
        for w in widgets
        if w.get("properties", {}).get("title") == "DB connections vs max_connections"
    ]
    values = {a["value"] for a in graph["properties"]["annotations"]["horizontal"]}
    assert values == {MAX_CONNECTIONS, 78}  # max_connections and the 90 % alarm line


def test_dashboard_has_alarm_status_widget(built: Built) -> None:
    widgets = _dashboard_body(built.template)["widgets"]
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == 7 + 2 * len(FUNCTION_IDS)


# --- construction errors ---------------------------------------------------------------------


def test_function_labels_come_from_construct_paths() -> None:
    """Functions built by components share ids like "Function"; their paths stay distinct."""
    app = cdk.App()
    stack = cdk.Stack(app, "Paths")
    fns: list[lambda_.IFunction] = []
    for parent in ("Migration", "Worker"):
        scope = Construct(stack, parent)
        fns.append(
            lambda_.Function(
                scope,
                "Function",
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler="index.handler",
                code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
            )
        )
    monitoring = Monitoring(
        stack,
        "Monitoring",
        proxy_name="p",
        db_instance_identifier="d",
        functions=fns,
        thresholds=derive_thresholds(MonitoringConfig(), max_connections=10, proxy_ceiling=8),
    )
    assert {"MigrationFunctionErrors", "WorkerFunctionThrottles"} <= set(monitoring.alarms)


def test_needs_at_least_one_function() -> None:
    stack = cdk.Stack(cdk.App(), "Empty")
    with pytest.raises(ValueError, match="at least one function"):
        Monitoring(
            stack,
            "Monitoring",
            proxy_name="p",
            db_instance_identifier="d",
            functions=[],
            thresholds=derive_thresholds(MonitoringConfig(), max_connections=10, proxy_ceiling=8),
        )


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
