"""The service stack's alarms as CloudFormation and CloudWatch describe them, and a small
model of what ListMetrics lists, for the alarm-metric check of `make smoke`.

The alarms mirror the synthesized service template (cdk.out/<app>-<env>-Service.template.json):
logical ids, namespaces, metric names, dimensions and statistics, as
tests/infra/test_metric_catalog.py checks against the template itself; the stack name, the service
namespace and the service dimension are the fixture configuration's (tests/ops/aws_stubs.py);
names are generated like CloudFormation's (`<stack>-<logical id>-<suffix>`). The availability
alarm's dimensions come from the catalog (the facts under test); what ListMetrics lists carries
the values AWS publishes, written out here, so a wrong fact leaves that alarm's metric unlisted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from stacks import metric_catalog as mc
from tests.ops.aws_stubs import (
    ACCOUNT,
    ALARM_TOPIC_ARN,
    API_FN,
    DB_ID,
    DIRECT_FN,
    MIGRATION_FN,
    PROXY_NAME,
    REGION,
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    SERVICE_STACK,
)

API_ID = "a1b2c3d4e5"
WHEN = datetime(2026, 11, 25, 8, 3, 12, tzinfo=UTC)

Dims = Mapping[str, str]


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, namespace: str, name: str, dims: Dims) -> Metric:
        return cls(namespace, name, tuple(sorted(dims.items())))

    def response(self) -> dict[str, Any]:
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dims],
        }


PROXY = {"ProxyName": PROXY_NAME}
# What the ProxyAvailability alarm reads: built by the catalog, as the Monitoring construct
# builds it (so from the facts in stacks/aws_facts.py).
ALARMED_AVAILABILITY = mc.proxy_availability_dimensions(PROXY_NAME)
# What CloudWatch really lists it under, written out here, never taken from the code under test:
# series exported from CloudWatch (prometheus-community/yet-another-cloudwatch-exporter PR #1501:
# dimension_TargetGroup="default", dimension_TargetRole="READWRITE") and the "RDS Proxy
# monitoring dashboard" page ("READWRITE and READ_ONLY roles"). The RDS API's READ_WRITE is not
# a CloudWatch value.
PUBLISHED_AVAILABILITY = {**PROXY, "TargetGroup": "default", "TargetRole": "READWRITE"}
# Dimensions whose values AWS fixes: the published metrics carry the literals above, not what
# an alarm happens to read.
AWS_FIXED_DIMENSIONS = frozenset({"TargetGroup", "TargetRole"})
DB = {"DBInstanceIdentifier": DB_ID}
API = {"ApiId": API_ID}
DIRECT = {"entrypoint": "direct", "service": SERVICE_NAME}
FUNCTIONS = {
    "FunctionsApi": API_FN,
    "FunctionsDirect": DIRECT_FN,
    "MigrationFunction": MIGRATION_FN,
}
FUNCTION_IDS = {
    "FunctionsApiErrors770641E7": ("FunctionsApi", "Errors"),
    "FunctionsApiThrottlesD2E0C734": ("FunctionsApi", "Throttles"),
    "FunctionsDirectErrors419D9BBB": ("FunctionsDirect", "Errors"),
    "FunctionsDirectThrottles86D9C8EE": ("FunctionsDirect", "Throttles"),
    "MigrationFunctionErrors3618B063": ("MigrationFunction", "Errors"),
    "MigrationFunctionThrottles8A80145A": ("MigrationFunction", "Throttles"),
}


def alarm_name(logical_id: str) -> str:
    return f"{SERVICE_STACK}-{logical_id}-{logical_id[-8:]}ABCD"


def _alarm(logical_id: str, threshold: float, comparison: str, missing: str) -> dict[str, Any]:
    name = alarm_name(logical_id)
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "AlarmDescription": f"{logical_id} (stubbed)",
        "AlarmConfigurationUpdatedTimestamp": WHEN,
        "ActionsEnabled": True,
        "OKActions": [ALARM_TOPIC_ARN],
        "AlarmActions": [ALARM_TOPIC_ARN],
        "InsufficientDataActions": [],
        "StateValue": "INSUFFICIENT_DATA",
        "StateReason": "Unchecked: Initial alarm creation",
        "StateUpdatedTimestamp": WHEN,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "TreatMissingData": missing,
        "StateTransitionedTimestamp": WHEN,
    }


def plain_alarm(
    logical_id: str,
    metric: Metric,
    statistic: str = "Sum",
    *,
    threshold: float = 1,
    comparison: str = "GreaterThanOrEqualToThreshold",
    missing: str = "notBreaching",
) -> dict[str, Any]:
    return {
        **_alarm(logical_id, threshold, comparison, missing),
        **metric.response(),
        "Statistic": statistic,
        "Period": 60,
    }


def math_alarm(logical_id: str, inputs: Mapping[str, Metric]) -> dict[str, Any]:
    """A metric-math alarm: an expression over MetricStat inputs (ProxyPoolSaturated's shape)."""
    expression = "100 * used / allowed" if set(inputs) == {"used", "allowed"} else "m1"
    metrics: list[dict[str, Any]] = [
        {
            "Id": "expr_1",
            "Expression": expression,
            "Label": "Proxy pool in use (%)",
            "ReturnData": True,
        }
    ]
    metrics += [
        {
            "Id": query_id,
            "MetricStat": {"Metric": metric.response(), "Period": 60, "Stat": "Sum"},
            "ReturnData": False,
        }
        for query_id, metric in inputs.items()
    ]
    return {
        **_alarm(logical_id, 90, "GreaterThanOrEqualToThreshold", "missing"),
        "Metrics": metrics,
    }


def service_alarms() -> dict[str, dict[str, Any]]:
    """Logical id -> DescribeAlarms entry, for the 15 alarms of the service stack."""
    rds = "AWS/RDS"
    alarms = {
        "MonitoringProxyPoolSaturatedBEE8497D": math_alarm(
            "MonitoringProxyPoolSaturatedBEE8497D",
            {
                "used": Metric.of(rds, "DatabaseConnections", PROXY),
                "allowed": Metric.of(rds, "MaxDatabaseConnectionsAllowed", PROXY),
            },
        ),
        "MonitoringProxySessionPinning20BB35F0": plain_alarm(
            "MonitoringProxySessionPinning20BB35F0",
            Metric.of(rds, "DatabaseConnectionsCurrentlySessionPinned", PROXY),
            missing="missing",
        ),
        "MonitoringProxyBorrowLatencyB228131E": plain_alarm(
            "MonitoringProxyBorrowLatencyB228131E",
            Metric.of(rds, "DatabaseConnectionsBorrowLatency", PROXY),
            "Average",
            missing="missing",
        ),
        "MonitoringProxyAvailability9D6ED15D": plain_alarm(
            "MonitoringProxyAvailability9D6ED15D",
            Metric.of(rds, "AvailabilityPercentage", ALARMED_AVAILABILITY),
            "Average",
            threshold=100,
            comparison="LessThanThreshold",
        ),
        "MonitoringDbConnectionsHighF0048EC7": plain_alarm(
            "MonitoringDbConnectionsHighF0048EC7",
            Metric.of(rds, "DatabaseConnections", DB),
            "Maximum",
            missing="missing",
        ),
        "MonitoringDbCpuHigh60905B62": plain_alarm(
            "MonitoringDbCpuHigh60905B62", Metric.of(rds, "CPUUtilization", DB), "Average"
        ),
        "MonitoringDbFreeStorageLowF70CF47B": plain_alarm(
            "MonitoringDbFreeStorageLowF70CF47B",
            Metric.of(rds, "FreeStorageSpace", DB),
            "Minimum",
            comparison="LessThanThreshold",
        ),
        "MonitoringApiServerErrors2BC6641E": plain_alarm(
            "MonitoringApiServerErrors2BC6641E", Metric.of("AWS/ApiGateway", "5xx", API)
        ),
        "MonitoringDirectServerErrorsAE44F76A": plain_alarm(
            "MonitoringDirectServerErrorsAE44F76A",
            Metric.of(SERVICE_NAMESPACE, "ServerErrors", DIRECT),
        ),
    }
    for suffix, (label, name) in FUNCTION_IDS.items():
        metric = Metric.of("AWS/Lambda", name, {"FunctionName": FUNCTIONS[label]})
        alarms[f"Monitoring{suffix}"] = plain_alarm(f"Monitoring{suffix}", metric)
    return alarms


def alarm_metrics(alarms: Mapping[str, Mapping[str, Any]]) -> list[Metric]:
    """The metrics the check asks ListMetrics about, in its order: alarms by logical id, inputs
    in alarm order, each metric once."""
    found: dict[Metric, None] = {}
    for logical_id in sorted(alarms):
        alarm = alarms[logical_id]
        stats = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        for m in stats or [alarm]:
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            found[Metric.of(m["Namespace"], m["MetricName"], dims)] = None
    return list(found)


def published_after_traffic(alarms: Mapping[str, Mapping[str, Any]]) -> set[Metric]:
    """What CloudWatch lists for the service stack after traffic: every alarm metric whose
    dimension values are the stack's own (resource names), availability under the values AWS
    publishes it with (PUBLISHED_AVAILABILITY, whatever the alarm reads), plus metrics of the
    same resources under other dimension sets (ListMetrics returns those too when they carry
    the filter's dimensions)."""
    ours = {m for m in alarm_metrics(alarms) if not AWS_FIXED_DIMENSIONS & dict(m.dims).keys()}
    extra = [
        Metric.of("AWS/RDS", "AvailabilityPercentage", PUBLISHED_AVAILABILITY),
        Metric.of(
            "AWS/RDS", "DatabaseConnections", {**PROXY, "TargetGroup": "default", "Target": DB_ID}
        ),
        Metric.of("AWS/RDS", "DatabaseConnections", PUBLISHED_AVAILABILITY),
        Metric.of(
            "AWS/RDS",
            "MaxDatabaseConnectionsAllowed",
            {**PROXY, "TargetGroup": "default", "Target": DB_ID},
        ),
        Metric.of("AWS/ApiGateway", "5xx", {**API, "Stage": "$default"}),
        Metric.of("AWS/ApiGateway", "Count", API),
        Metric.of(SERVICE_NAMESPACE, "OrdersCreated", DIRECT),
    ]
    for fn in FUNCTIONS.values():
        extra += [
            Metric.of("AWS/Lambda", n, {"FunctionName": fn}) for n in ("Invocations", "Duration")
        ]
    return ours | set(extra)


# --- stubbed calls ------------------------------------------------------------------------------


def _resource(logical_id: str, physical_id: str, resource_type: str) -> dict[str, Any]:
    return {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical_id,
        "ResourceType": resource_type,
        "LastUpdatedTimestamp": WHEN,
        "ResourceStatus": "CREATE_COMPLETE",
        "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
    }


def stack_resources(alarm_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The stack's resources: its alarms among a few others (not alarms: skipped)."""
    others = [
        _resource("FunctionsApi45DE0CE2", API_FN, "AWS::Lambda::Function"),
        _resource("FunctionsDirect5CF5CD0F", DIRECT_FN, "AWS::Lambda::Function"),
        _resource("MonitoringAlarmTopicAF62D4F1", ALARM_TOPIC_ARN, "AWS::SNS::Topic"),
    ]
    alarms = [_resource(i, alarm_name(i), "AWS::CloudWatch::Alarm") for i in sorted(alarm_ids)]
    return others[:2] + alarms + others[2:]


def add_stack_resources(stub: Stubber, resources: Sequence[dict[str, Any]], pages: int = 1) -> None:
    size = -(-len(resources) // pages)
    for n in range(pages):
        page: dict[str, Any] = {
            "StackResourceSummaries": list(resources[n * size : (n + 1) * size])
        }
        params: dict[str, Any] = {"StackName": SERVICE_STACK}
        if n + 1 < pages:
            page["NextToken"] = f"resources-{n + 1}"
        if n:
            params["NextToken"] = f"resources-{n}"
        stub.add_response("list_stack_resources", page, expected_params=params)


def add_describe_alarms(stub: Stubber, alarms: Sequence[Mapping[str, Any]], pages: int = 1) -> None:
    names = sorted(alarm_name_of(a) for a in alarms)
    size = -(-len(alarms) // pages)
    for n in range(pages):
        page: dict[str, Any] = {
            "MetricAlarms": list(alarms[n * size : (n + 1) * size]),
            "CompositeAlarms": [],
        }
        params: dict[str, Any] = {"AlarmNames": names, "AlarmTypes": ["MetricAlarm"]}
        if n + 1 < pages:
            page["NextToken"] = f"alarms-{n + 1}"
        if n:
            params["NextToken"] = f"alarms-{n}"
        stub.add_response("describe_alarms", page, expected_params=params)


def alarm_name_of(alarm: Mapping[str, Any]) -> str:
    return str(alarm["AlarmName"])


@dataclass
class CloudWatchMetrics:
    """What ListMetrics lists: filters by namespace, exact name, and dimension (name, value)
    pairs the metric must carry (it may carry more), as the ListMetrics reference says."""

    listed: set[Metric] = field(default_factory=set)

    def matching(self, namespace: str, name: str | None, dims: Dims) -> list[Metric]:
        return sorted(
            (
                m
                for m in self.listed
                if m.namespace == namespace
                and (name is None or m.name == name)
                and set(dims.items()) <= set(m.dims)
            ),
            key=lambda m: (m.name, m.dims),
        )

    def add_lookup(
        self, stub: Stubber, metric: Metric, *, pages: int = 1, exact_last: bool = False
    ) -> None:
        """is_listed(): namespace, name and the full dimension set. `exact_last` puts the exact
        match after the metrics that carry more dimensions (on the last page)."""
        self._add(
            stub,
            metric.namespace,
            metric.name,
            dict(metric.dims),
            pages=pages,
            exact_last=exact_last,
        )

    def add_other_dimensions(self, stub: Stubber, metric: Metric, resource_dims: Dims) -> None:
        """The failure diagnostic: same metric, the resource's dimensions only."""
        self._add(stub, metric.namespace, metric.name, resource_dims)

    def add_same_dimensions(self, stub: Stubber, metric: Metric) -> None:
        """The warning diagnostic: any metric under the same dimensions."""
        self._add(stub, metric.namespace, None, dict(metric.dims))

    def _add(
        self,
        stub: Stubber,
        namespace: str,
        name: str | None,
        dims: Dims,
        *,
        pages: int = 1,
        exact_last: bool = False,
    ) -> None:
        found = self.matching(namespace, name, dims)
        size = max(1, -(-len(found) // pages))
        split = [found[n * size : (n + 1) * size] for n in range(pages)]
        if exact_last:
            # the others (more dimensions) first, the exact match alone on the last page: the
            # check stops paging once it has found the metric
            exact = [m for m in found if m.dims == tuple(sorted(dims.items()))]
            others = [m for m in found if m not in exact]
            split = [others if n == 0 else [] for n in range(pages - 1)] + [exact]
        params: dict[str, Any] = {"Namespace": namespace}
        if name is not None:
            params["MetricName"] = name
        if dims:
            params["Dimensions"] = [{"Name": k, "Value": v} for k, v in sorted(dims.items())]
        for n, listed in enumerate(split):
            page: dict[str, Any] = {"Metrics": [m.response() for m in listed]}
            call = dict(params)
            if n + 1 < pages:
                page["NextToken"] = f"metrics-{n + 1}"
            if n:
                call["NextToken"] = f"metrics-{n}"
            stub.add_response("list_metrics", page, expected_params=call)


def add_all_found(cloudformation: Stubber, cloudwatch: Stubber) -> CloudWatchMetrics:
    """The alarm check of a service stack whose every alarm metric is listed."""
    alarms = service_alarms()
    add_stack_resources(cloudformation, stack_resources(alarms))
    add_describe_alarms(cloudwatch, list(alarms.values()))
    world = CloudWatchMetrics(published_after_traffic(alarms))
    for metric in alarm_metrics(alarms):
        world.add_lookup(cloudwatch, metric)
    return world
