"""Does every alarm of the service stack watch a metric CloudWatch has? (`make smoke`, last step)

An alarm whose namespace, metric name or dimension values do not match what AWS publishes sits
in INSUFFICIENT_DATA (or OK, with notBreaching) forever: it can never fire. After its traffic,
smoke finds the stack's alarms (cloudformation:ListStackResources, AWS::CloudWatch::Alarm
physical ids; cloudwatch:DescribeAlarms) and asks cloudwatch:ListMetrics for every metric they
watch (plain alarms: the alarm's metric; metric-math alarms: each MetricStat input), with the
full dimension set, keeping only exact dimension-set matches (ListMetrics also returns metrics
that carry more dimensions than the filter).

Some metrics only exist after an event (stacks/metric_catalog.py MetricFact.published_when):
missing before it is a warning; missing although the event happened (smoke's traffic caused it,
or the metric is published from the resource's creation) is a failure. ListMetrics is
eventually consistent: AWS says to allow up to 15 minutes for a new metric to appear.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stacks import metric_catalog as mc

if TYPE_CHECKING:
    from types_boto3_cloudformation.client import CloudFormationClient
    from types_boto3_cloudwatch.client import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import (
        DimensionFilterTypeDef,
        DimensionTypeDef,
        MetricAlarmTypeDef,
    )

LIST_METRICS_DOC = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html"
)
LIST_METRICS_DELAY_MIN = 15  # ListMetrics: "allow up to 15 minutes for the metric to appear"
DEFAULT_WAIT_S = 60
MAX_WAIT_S = 900
POLL_S = 15
ALARM_NAMES_PER_CALL = 100  # DescribeAlarms AlarmNames: at most 100
MAX_DIAGNOSTIC_PAGES = 3
# Dimensions whose value names a deployed resource: what a diagnostic keeps when it asks which
# other dimension values AWS publishes the metric under.
RESOURCE_DIMENSIONS = (
    "ProxyName",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "FunctionName",
    "ApiId",
)
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
OK, WARN, FAIL = "ok  ", "warn", "FAIL"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class WatchedMetric:
    """One metric an alarm reads: namespace, name and its dimensions (sorted by name)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Iterable[DimensionTypeDef]) -> WatchedMetric:
        pairs = sorted((d["Name"], d["Value"]) for d in dimensions)
        return cls(namespace, name, tuple(pairs))

    def filters(self, keep: Collection[str] | None = None) -> list[DimensionFilterTypeDef]:
        return [{"Name": k, "Value": v} for k, v in self.dimensions if keep is None or k in keep]

    def describe(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dimensions) or "no dimensions"
        return f"{self.namespace} {self.name} ({dims})"

    def cli(self) -> str:
        """The list-metrics call to compare by hand: the resource's dimensions only."""
        command = (
            f"aws cloudwatch list-metrics --namespace {self.namespace} --metric-name {self.name}"
        )
        anchor = self.filters(RESOURCE_DIMENSIONS)
        if anchor:
            command += " --dimensions " + " ".join(
                f"Name={f['Name']},Value={f['Value']}" for f in anchor
            )
        return command


@dataclass(frozen=True)
class StackAlarm:
    logical_id: str
    name: str
    metrics: tuple[WatchedMetric, ...]


@dataclass(frozen=True)
class Verdict:
    """What ListMetrics said about one metric, and what that means."""

    metric: WatchedMetric
    status: str
    detail: str
    evidence: str = ""


@dataclass
class Tally:
    alarms: int = 0
    failures: int = 0
    warnings: int = 0


# --- reading the stack's alarms ------------------------------------------------------------------


def stack_alarm_ids(cfn: CloudFormationClient, stack: str) -> dict[str, str]:
    """Alarm name (physical id) -> logical id, for every alarm of `stack` (pages followed)."""
    found: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            physical = resource.get("PhysicalResourceId")
            if resource["ResourceType"] == "AWS::CloudWatch::Alarm" and physical:
                found[physical] = resource["LogicalResourceId"]
    return found


def describe_alarms(cloudwatch: CloudWatchClient, names: Sequence[str]) -> list[MetricAlarmTypeDef]:
    alarms: list[MetricAlarmTypeDef] = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for start in range(0, len(names), ALARM_NAMES_PER_CALL):
        chunk = list(names[start : start + ALARM_NAMES_PER_CALL])
        for page in paginator.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm"]):
            alarms += page.get("MetricAlarms", [])
    return alarms


def alarm_inputs(alarm: MetricAlarmTypeDef) -> tuple[WatchedMetric, ...]:
    """The metrics an alarm reads: its own metric, or each MetricStat of its metric math."""
    if "MetricName" in alarm and "Namespace" in alarm:
        return (
            WatchedMetric.of(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", [])),
        )
    inputs = []
    for query in alarm.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat is not None:
            metric = stat["Metric"]
            inputs.append(
                WatchedMetric.of(
                    metric["Namespace"], metric["MetricName"], metric.get("Dimensions", [])
                )
            )
    return tuple(inputs)


def read_alarms(
    cfn: CloudFormationClient, cloudwatch: CloudWatchClient, stack: str
) -> tuple[list[StackAlarm], list[str]]:
    """The stack's metric alarms, and the logical ids of alarms CloudWatch does not have."""
    ids = stack_alarm_ids(cfn, stack)
    described = {a["AlarmName"]: a for a in describe_alarms(cloudwatch, sorted(ids))}
    alarms = [
        StackAlarm(ids[name], name, alarm_inputs(described[name]))
        for name in sorted(ids, key=ids.__getitem__)
        if name in described
    ]
    missing = sorted(ids[name] for name in ids if name not in described)
    return alarms, missing


# --- asking ListMetrics ---------------------------------------------------------------------------


def _listed(
    cloudwatch: CloudWatchClient, max_pages: int | None = None, **kwargs: Any
) -> Iterator[WatchedMetric]:
    if not kwargs.get("Dimensions"):
        kwargs.pop("Dimensions", None)  # no filter rather than an empty one
    pages = cloudwatch.get_paginator("list_metrics").paginate(**kwargs)
    for n, page in enumerate(pages, start=1):
        for item in page.get("Metrics", []):
            yield WatchedMetric.of(
                item["Namespace"], item["MetricName"], item.get("Dimensions", [])
            )
        if max_pages is not None and n >= max_pages:
            return


def is_listed(cloudwatch: CloudWatchClient, metric: WatchedMetric) -> bool:
    """ListMetrics has this metric with exactly these dimensions (not only a superset)."""
    found = _listed(
        cloudwatch,
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=metric.filters(),
    )
    return any(item == metric for item in found)


def other_dimensions(cloudwatch: CloudWatchClient, metric: WatchedMetric) -> str:
    """Where the same metric of the same resource is listed instead (first pages only)."""
    found = _listed(
        cloudwatch,
        MAX_DIAGNOSTIC_PAGES,
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=metric.filters(RESOURCE_DIMENSIONS),
    )
    sets = sorted({", ".join(f"{k}={v}" for k, v in item.dimensions) for item in found})
    if not sets:
        return "ListMetrics lists this metric under no dimension values of this resource yet"
    return "listed instead under: " + " | ".join(sets[:5]) + (" ..." if len(sets) > 5 else "")


def same_dimensions(cloudwatch: CloudWatchClient, metric: WatchedMetric) -> str:
    """Which other metrics are listed under exactly these dimensions (they confirm them)."""
    found = _listed(
        cloudwatch,
        MAX_DIAGNOSTIC_PAGES,
        Namespace=metric.namespace,
        Dimensions=metric.filters(),
    )
    names = sorted({item.name for item in found if item.dimensions == metric.dimensions})
    if not names:
        return "no other metric is listed under these dimensions yet"
    shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
    return f"these dimensions already carry {shown}"


def list_all(
    cloudwatch: CloudWatchClient,
    metrics: Sequence[WatchedMetric],
    must_exist: Callable[[WatchedMetric], bool],
    *,
    wait_s: int,
    sleep: Callable[[float], None],
) -> dict[WatchedMetric, bool]:
    """ListMetrics for each metric; re-ask for the ones that must exist, for up to `wait_s`."""
    listed = {m: is_listed(cloudwatch, m) for m in metrics}
    waited = 0
    while waited < wait_s:
        pending = [m for m in metrics if not listed[m] and must_exist(m)]
        if not pending:
            break
        if waited == 0:
            print(
                f"  {len(pending)} metric(s) not listed yet: asking again every {POLL_S} s for up "
                f"to {wait_s} s (--wait-metrics)"
            )
        step = min(POLL_S, wait_s - waited)
        sleep(step)
        waited += step
        for m in pending:
            listed[m] = is_listed(cloudwatch, m)
    return listed


# --- judging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectations:
    """What the catalog says about when a metric appears, and which events have happened."""

    service_namespace: str
    happened: frozenset[str]

    def fact(self, metric: WatchedMetric) -> mc.MetricFact | None:
        try:
            return mc.check(
                metric.namespace,
                metric.name,
                dict(metric.dimensions),
                None,
                service_namespace=self.service_namespace,
            )
        except mc.CatalogError:
            return None

    def must_exist(self, metric: WatchedMetric) -> bool:
        fact = self.fact(metric)
        return fact is not None and (
            fact.published_when is None or fact.published_when in self.happened
        )


def judge(
    cloudwatch: CloudWatchClient, metric: WatchedMetric, listed: bool, expect: Expectations
) -> Verdict:
    if listed:
        return Verdict(metric, OK, "found")
    fact = expect.fact(metric)
    if fact is None:
        detail = "not listed; not in stacks/metric_catalog.py, so when AWS publishes it is unknown"
        return Verdict(metric, WARN, detail)
    if not expect.must_exist(metric):
        detail = f"not yet published (expected until {fact.published_when})"
        return Verdict(metric, WARN, detail, same_dimensions(cloudwatch, metric))
    why = (
        f"this run's traffic caused {fact.published_when}"
        if fact.published_when
        else "AWS publishes it from the resource's creation on"
    )
    detail = f"not published: should be listed by now ({why})"
    return Verdict(metric, FAIL, detail, other_dimensions(cloudwatch, metric))


def fix_hint(metric: WatchedMetric) -> str:
    return (
        f"fix: CloudWatch can take up to {LIST_METRICS_DELAY_MIN} minutes to list a new metric: "
        "re-run make smoke in a few minutes (or python -m ops.smoke --wait-metrics 600). If it "
        "stays missing the alarm can never fire: the dimension values may be wrong for this "
        f"account; compare with `{metric.cli()}` and correct the dimension values AWS fixes "
        "in stacks/aws_facts.py (e.g. TargetRole: CloudWatch says READWRITE, the RDS API "
        "READ_WRITE) or stacks/metric_catalog.py / stacks/components/monitoring.py"
    )


def print_alarm(alarm: StackAlarm, verdicts: Sequence[Verdict], width: int) -> str:
    """Print one alarm's rows; return its overall status (the worst of its metrics)."""
    status = max((v.status for v in verdicts), key=_RANK.__getitem__, default=WARN)
    if not verdicts:
        print(f"{WARN}  {alarm.logical_id:<{width}} reads no metric ListMetrics could check")
    for n, verdict in enumerate(verdicts):
        lead = f"{status}  {alarm.logical_id:<{width}}" if n == 0 else " " * (width + 6)
        print(f"{lead} {verdict.metric.describe()}: {verdict.detail}")
        pad = " " * (width + 7)
        if verdict.evidence:
            print(f"{pad}{verdict.evidence}")
        if verdict.status == FAIL:
            print(f"{pad}{fix_hint(verdict.metric)}")
    return status


def check_alarm_metrics(
    cfn: CloudFormationClient,
    cloudwatch: CloudWatchClient,
    stack: str,
    expect: Expectations,
    *,
    wait_s: int = DEFAULT_WAIT_S,
    sleep: Callable[[float], None],
) -> Tally:
    """Print one row per alarm of `stack`: is each metric it watches listed by CloudWatch?"""
    print(
        f"\nAlarms of {stack}: is each alarm's metric in CloudWatch? (ListMetrics with the full "
        f"dimension set; it is eventually consistent: a new metric can take up to "
        f"{LIST_METRICS_DELAY_MIN} minutes to be listed)"
    )
    try:
        alarms, gone = read_alarms(cfn, cloudwatch, stack)
        metrics = list(dict.fromkeys(m for alarm in alarms for m in alarm.metrics))
        listed = list_all(cloudwatch, metrics, expect.must_exist, wait_s=wait_s, sleep=sleep)
        verdicts = {m: judge(cloudwatch, m, listed[m], expect) for m in metrics}
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") not in DENIED:
            raise
        print(
            f"{WARN}  cannot check: {error.get('Code')} ({error.get('Message', '')}); the identity "
            "needs cloudformation:ListStackResources, cloudwatch:DescribeAlarms and "
            "cloudwatch:ListMetrics"
        )
        return Tally(warnings=1)
    return _print_all(alarms, gone, verdicts)


def _print_all(
    alarms: Sequence[StackAlarm], gone: Sequence[str], verdicts: Mapping[WatchedMetric, Verdict]
) -> Tally:
    tally = Tally(alarms=len(alarms) + len(gone))
    width = max((len(a) for a in [*gone, *(x.logical_id for x in alarms)]), default=0)
    counts = {OK: 0, WARN: 0, FAIL: 0}
    for alarm in alarms:
        counts[print_alarm(alarm, [verdicts[m] for m in alarm.metrics], width)] += 1
    for logical_id in gone:
        counts[FAIL] += 1
        print(f"{FAIL}  {logical_id:<{width}} in the stack but not in CloudWatch: deleted by hand?")
    if tally.alarms == 0:
        counts[WARN] += 1
        print(f"{WARN}  no AWS::CloudWatch::Alarm in the stack: nothing to check")
    tally.failures, tally.warnings = counts[FAIL], counts[WARN]
    print(
        f"alarm metrics: {tally.alarms} alarm(s): {counts[OK]} found, {counts[WARN]} not yet "
        f"published (warning), {counts[FAIL]} missing (failure)"
    )
    return tally
