"""The CloudWatch metrics this app reads, as AWS publishes them: one row per metric.

Each row says under which dimension sets AWS publishes the metric, which statistics give a
meaningful number, its unit and the page that says so. The catalog checks metrics (`check()`);
it builds only those no construct offers. The Monitoring construct reads the database, API and
function metrics through the constructs' own `metric_*` helpers and checks each against this
catalog at synth; it builds the RDS Proxy metrics (CDK's DatabaseProxy has no helpers) and the
functions' EMF metrics with `metric()`, as the ops scripts build their GetMetricData queries.
tests/infra/test_metric_catalog.py walks every alarm and dashboard widget of the synthesized
templates and `make smoke` (ops/alarm_metrics.py) every deployed alarm, and both fail or warn on
any metric/dimension/statistic this catalog does not allow.

Two facts shape most rows:
- RDS Proxy publishes its metrics once per underlying proxy node ("Use CloudWatch statistics to
  aggregate the values for a proxy across all the associated instances"): connection counts
  are read with Sum; a Maximum would show one node's share and alarm N times too late.
- RDS Proxy publishes AvailabilityPercentage only under ProxyName + TargetGroup + TargetRole,
  and some proxy metrics only after the first successful connection. The values of those
  dimensions are AWS's (TargetRole READWRITE, not the API enum READ_WRITE): they are facts in
  stacks/aws_facts.py.

Many metrics have no data point before some activity (a connection, an invocation, a failure):
`published_when` names that event, so `make smoke` (ops/alarm_metrics.py) can tell an alarm
metric that is not published yet from one that does not exist under these dimensions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from orders.contract import CLIENT_ERRORS_METRIC, ENTRYPOINT_DIMENSION, SERVER_ERRORS_METRIC
from stacks.aws_facts import RDS_PROXY_METRIC_TARGET_GROUP, RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE

RDS_PROXY_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html"
RDS_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html"
LAMBDA_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
LAMBDA_CONCURRENCY_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-concurrency.html"
HTTP_API_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html"
POWERTOOLS_METRICS_DOC = "https://docs.aws.amazon.com/powertools/python/latest/core/metrics/"

RDS = "AWS/RDS"
LAMBDA = "AWS/Lambda"
API_GATEWAY = "AWS/ApiGateway"
# The functions' own EMF metrics live in the app's namespace (ProjectConfig.metrics_namespace).
SERVICE = "<service namespace>"

# RDS Proxy dimension sets (the page numbers them 1-4).
PROXY = frozenset({"ProxyName"})
PROXY_ENDPOINT = frozenset({"ProxyName", "EndpointName"})
PROXY_TARGET = frozenset({"ProxyName", "TargetGroup", "Target"})
PROXY_TARGET_ROLE = frozenset({"ProxyName", "TargetGroup", "TargetRole"})
INSTANCE = frozenset({"DBInstanceIdentifier"})
FUNCTION = frozenset({"FunctionName"})
# No dimension at all: the metric aggregated over every function of the account and Region.
ACCOUNT: frozenset[str] = frozenset()
API = frozenset({"ApiId"})
# Powertools adds `service` when a service name is set (POWERTOOLS_SERVICE_NAME); the handlers
# tag every metric with their entry point (orders.contract.ENTRYPOINT_DIMENSION).
SERVICE_ENTRYPOINT = frozenset({"service", ENTRYPOINT_DIMENSION})

_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")

# Events before which a metric has no data point at all, so CloudWatch does not list it
# (MetricFact.published_when; ops/alarm_metrics.py tells "not yet published" from "wrong").
AFTER_PROXY_CONNECTION = "the proxy's first successful connection"
AFTER_INVOCATION = "the function's first invocation"
AFTER_FUNCTION_ERROR = "the function's first failed invocation"
AFTER_THROTTLE = "the function's first throttled invocation"
AFTER_API_REQUEST = "the API's first request"
AFTER_SERVER_ERROR = "the entry point's first handled 5xx answer"
AFTER_CLIENT_ERROR = "the entry point's first 4xx answer"
_PROXY_FIRST_CONNECTION = (
    "rds-proxy.monitoring: 'Some of these metrics might not be visible until after the first "
    "successful connection by a proxy' (which ones is not said: every proxy row is treated so)"
)
_LAMBDA_ON_ACTIVITY = (
    "Lambda sends a function's metrics for periods in which it was invoked; zero values of "
    "Errors/Throttles for clean invocations are not documented, so they count as published "
    "only once the function has failed or been throttled"
)
_API_ON_REQUEST = (
    "API Gateway sends HTTP API metrics for periods with requests; 4xx/5xx assumed sent with "
    "every request (as zero), like REST APIs' 4XXError/5XXError: not stated for HTTP APIs"
)
_ACCOUNT_CONCURRENCY_NOTE = (
    "Account-wide (no dimension), for the Region: what ops/diagnose.py reads when no function "
    "is named. The current monitoring-concurrency page says only 'for all functions, versions, "
    "and aliases'; the account level is stated by an earlier revision of the Lambda guide "
    "(concurrent-executions.md: 'concurrent executions at an account level') and listed as an "
    "empty dimension set in aws-cdk-lib's generated LambdaMetrics, not on a current AWS page."
)
_EMF_ON_ANSWER = (
    "The handlers add ServerErrors/ClientErrors only when they answer 5xx/4xx "
    "(orders.handlers.common.error_response); an EMF metric exists from its first data point"
)


@dataclass(frozen=True)
class MetricFact:
    """How AWS publishes one metric. `statistics[0]` is the one to use by default."""

    namespace: str
    name: str
    dimension_sets: tuple[frozenset[str], ...]
    statistics: tuple[str, ...]
    unit: str
    source: str
    note: str = ""
    verified: bool = True
    # None: CloudWatch has data from the resource's creation on. Otherwise the event (one of the
    # AFTER_* constants) before which the metric has no data point and ListMetrics omits it;
    # `published_reason` says why (doc quote or stated assumption).
    published_when: str | None = None
    published_reason: str = ""

    def allows_statistic(self, statistic: str) -> bool:
        if statistic in self.statistics:
            return True
        return "percentiles" in self.statistics and bool(_PERCENTILE.match(statistic))

    def allows_dimensions(self, names: frozenset[str]) -> bool:
        return names in self.dimension_sets


def _http_api(name: str, statistics: tuple[str, ...], unit: str = "Count") -> MetricFact:
    """An HTTP API metric, read by ApiId (the Stage value of $default is not documented)."""
    return MetricFact(
        API_GATEWAY,
        name,
        (API, API | {"Stage"}),
        statistics,
        unit,
        HTTP_API_DOC,
        published_when=AFTER_API_REQUEST,
        published_reason=_API_ON_REQUEST,
    )


def _proxy(
    name: str, statistics: tuple[str, ...], sets: tuple[frozenset[str], ...], unit: str = "Count"
) -> MetricFact:
    return MetricFact(
        RDS,
        name,
        sets,
        statistics,
        unit,
        RDS_PROXY_DOC,
        published_when=AFTER_PROXY_CONNECTION,
        published_reason=_PROXY_FIRST_CONNECTION,
    )


_PROXY_GAUGE_SETS = (PROXY, PROXY_TARGET, PROXY_TARGET_ROLE)

CATALOG: tuple[MetricFact, ...] = (
    # --- RDS Proxy (per node: Sum for counts, Average for latencies) --------------------------
    _proxy("ClientConnections", ("Sum",), (PROXY, PROXY_ENDPOINT)),
    _proxy("DatabaseConnections", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("MaxDatabaseConnectionsAllowed", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("DatabaseConnectionsCurrentlySessionPinned", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("DatabaseConnectionsCurrentlyBorrowed", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("DatabaseConnectionRequests", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("DatabaseConnectionsSetupFailed", ("Sum",), _PROXY_GAUGE_SETS),
    _proxy("ClientConnectionsSetupFailedAuth", ("Sum",), (PROXY, PROXY_ENDPOINT)),
    _proxy("QueryRequests", ("Sum",), (PROXY, PROXY_ENDPOINT)),
    _proxy(
        "DatabaseConnectionsBorrowLatency",
        ("Average", "Maximum", "percentiles"),
        (PROXY, PROXY_ENDPOINT),
        "Microseconds",
    ),
    _proxy(
        "QueryDatabaseResponseLatency",
        ("Average", "Maximum", "percentiles"),
        (PROXY, PROXY_ENDPOINT, PROXY_TARGET, PROXY_TARGET_ROLE),
        "Microseconds",
    ),
    MetricFact(
        RDS,
        "AvailabilityPercentage",
        (PROXY_TARGET_ROLE,),
        ("Average", "Minimum", "SampleCount"),
        "Percent",
        RDS_PROXY_DOC,
        "Only under ProxyName + TargetGroup + TargetRole; Average across nodes (SampleCount "
        "counts them). Published only after the proxy's first successful connection.",
        published_when=AFTER_PROXY_CONNECTION,
        published_reason=_PROXY_FIRST_CONNECTION,
    ),
    # --- RDS instance (one data point a minute) ------------------------------------------------
    MetricFact(RDS, "DatabaseConnections", (INSTANCE,), ("Maximum", "Average"), "Count", RDS_DOC),
    MetricFact(RDS, "CPUUtilization", (INSTANCE,), ("Average", "Maximum"), "Percent", RDS_DOC),
    MetricFact(RDS, "FreeStorageSpace", (INSTANCE,), ("Minimum", "Average"), "Bytes", RDS_DOC),
    MetricFact(RDS, "FreeableMemory", (INSTANCE,), ("Minimum", "Average"), "Bytes", RDS_DOC),
    # --- Lambda ----------------------------------------------------------------------------------
    MetricFact(
        LAMBDA,
        "Errors",
        (FUNCTION,),
        ("Sum",),
        "Count",
        LAMBDA_DOC,
        published_when=AFTER_FUNCTION_ERROR,
        published_reason=_LAMBDA_ON_ACTIVITY,
    ),
    MetricFact(
        LAMBDA,
        "Throttles",
        (FUNCTION,),
        ("Sum",),
        "Count",
        LAMBDA_DOC,
        published_when=AFTER_THROTTLE,
        published_reason=_LAMBDA_ON_ACTIVITY,
    ),
    MetricFact(
        LAMBDA,
        "Invocations",
        (FUNCTION,),
        ("Sum",),
        "Count",
        LAMBDA_DOC,
        published_when=AFTER_INVOCATION,
        published_reason=_LAMBDA_ON_ACTIVITY,
    ),
    MetricFact(
        LAMBDA,
        "Duration",
        (FUNCTION,),
        ("Average", "Maximum", "percentiles"),
        "Milliseconds",
        LAMBDA_DOC,
        published_when=AFTER_INVOCATION,
        published_reason=_LAMBDA_ON_ACTIVITY,
    ),
    MetricFact(
        LAMBDA,
        "ConcurrentExecutions",
        (FUNCTION,),
        ("Maximum",),
        "Count",
        LAMBDA_CONCURRENCY_DOC,
        "Emitted for all functions, versions and aliases (older docs: only reserved ones).",
        published_when=AFTER_INVOCATION,
        published_reason=_LAMBDA_ON_ACTIVITY,
    ),
    MetricFact(
        LAMBDA,
        "ConcurrentExecutions",
        (ACCOUNT,),
        ("Maximum",),
        "Count",
        LAMBDA_CONCURRENCY_DOC,
        _ACCOUNT_CONCURRENCY_NOTE,
        verified=False,
        published_when=AFTER_INVOCATION,
        published_reason="Lambda sends it for periods in which a function of the account ran "
        "in the Region",
    ),
    # --- HTTP API (ApiId alone: the Stage value of $default is not documented) --------------------
    _http_api("5xx", ("Sum",)),
    _http_api("4xx", ("Sum",)),
    _http_api("Count", ("Sum", "SampleCount")),
    _http_api("Latency", ("Average", "Maximum", "percentiles"), "Milliseconds"),
    # --- The functions' own metrics (Powertools EMF) ---------------------------------------------
    MetricFact(
        SERVICE,
        SERVER_ERRORS_METRIC,
        (SERVICE_ENTRYPOINT,),
        ("Sum",),
        "Count",
        POWERTOOLS_METRICS_DOC,
        "Handled 5xx answers (the handler caught the error: Lambda Errors never counts them).",
        published_when=AFTER_SERVER_ERROR,
        published_reason=_EMF_ON_ANSWER,
    ),
    MetricFact(
        SERVICE,
        CLIENT_ERRORS_METRIC,
        (SERVICE_ENTRYPOINT,),
        ("Sum",),
        "Count",
        POWERTOOLS_METRICS_DOC,
        published_when=AFTER_CLIENT_ERROR,
        published_reason=_EMF_ON_ANSWER,
    ),
)


def _set_name(names: frozenset[str]) -> str:
    return "+".join(sorted(names)) or "no dimension"


class CatalogError(LookupError):
    """A metric, dimension set or statistic AWS does not publish or that means nothing."""


def rows(namespace: str, name: str, *, service_namespace: str | None = None) -> list[MetricFact]:
    """Catalog rows for (namespace, name): AWS/RDS DatabaseConnections is two metrics (proxy and
    instance), told apart by their dimensions. `service_namespace` maps the app's namespace."""
    key = SERVICE if service_namespace is not None and namespace == service_namespace else namespace
    found = [row for row in CATALOG if (row.namespace, row.name) == (key, name)]
    if not found:
        raise CatalogError(f"{namespace}/{name} is not in stacks/metric_catalog.py")
    return found


def check(
    namespace: str,
    name: str,
    dimensions: Mapping[str, object],
    statistic: str | None,
    *,
    service_namespace: str | None = None,
) -> MetricFact:
    """The row for this metric; CatalogError if AWS would not publish it like this.

    `statistic=None` checks the dimensions only (a dashboard metric without its own statistic).
    """
    names = frozenset(dimensions)
    candidates = rows(namespace, name, service_namespace=service_namespace)
    matching = [row for row in candidates if row.allows_dimensions(names)]
    if not matching:
        sets = " | ".join(_set_name(s) for row in candidates for s in row.dimension_sets)
        raise CatalogError(
            f"{namespace}/{name} is not published under {_set_name(names)}"
            f"; AWS publishes it under: {sets} ({candidates[0].source})"
        )
    row = matching[0]
    if statistic is not None and not row.allows_statistic(statistic):
        raise CatalogError(
            f"{namespace}/{name} read with {statistic}: use one of {', '.join(row.statistics)} "
            f"({row.source})"
        )
    return row


@dataclass(frozen=True)
class MetricRef:
    """One metric to read, checked against the catalog: what CDK and boto3 callers build from."""

    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str
    fact: MetricFact


def metric(
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    statistic: str | None = None,
    *,
    service_namespace: str | None = None,
) -> MetricRef:
    """A checked metric; the statistic defaults to the catalog's first (the one to use)."""
    row = check(namespace, name, dimensions, statistic, service_namespace=service_namespace)
    chosen = statistic or row.statistics[0]
    return MetricRef(namespace, name, dict(dimensions), chosen, row)


def proxy_dimensions(proxy_name: str) -> dict[str, str]:
    """Dimension set 1: the whole proxy (every node, every endpoint)."""
    return {"ProxyName": proxy_name}


def proxy_availability_dimensions(proxy_name: str) -> dict[str, str]:
    """Dimension set 4 for the default target group's writer: where availability lives.

    The values are CloudWatch's (stacks/aws_facts.py): TargetRole READWRITE, not the RDS API's
    READ_WRITE."""
    return {
        "ProxyName": proxy_name,
        "TargetGroup": RDS_PROXY_METRIC_TARGET_GROUP.value,
        "TargetRole": RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE.value,
    }
