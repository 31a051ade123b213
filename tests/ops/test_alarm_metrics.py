"""make smoke's last check: every alarm of the service stack watches a metric CloudWatch lists.

botocore Stubber answers for cloudformation:ListStackResources, cloudwatch:DescribeAlarms and
cloudwatch:ListMetrics (tests/ops/alarm_stubs.py models ListMetrics' filter: a metric matches
when it carries the filter's dimensions, possibly more).
"""

from __future__ import annotations

from typing import Any

import pytest

from ops import smoke
from ops.alarm_metrics import (
    RESOURCE_DIMENSIONS,
    Expectations,
    Tally,
    WatchedMetric,
    check_alarm_metrics,
)
from stacks import metric_catalog as mc
from tests.ops.alarm_stubs import (
    DB,
    DIRECT,
    FUNCTION_IDS,
    PROXY,
    CloudWatchMetrics,
    Metric,
    add_describe_alarms,
    add_stack_resources,
    alarm_metrics,
    math_alarm,
    plain_alarm,
    published_after_traffic,
    service_alarms,
    stack_resources,
)
from tests.ops.aws_stubs import (
    API_FN,
    DB_ID,
    ENV,
    PROXY_NAME,
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    SERVICE_STACK,
    Stubbed,
    add_stacks,
)
from tests.ops.test_smoke_script import NOW, FakeHttp, add_direct_calls, add_metrics, add_migration

pytestmark = pytest.mark.ops

AFTER_SMOKE = Expectations(SERVICE_NAMESPACE, smoke.traffic_events("an-order-id", api_ok=True))
NO_TRAFFIC = Expectations(SERVICE_NAMESPACE, frozenset())
LAMBDA_ACTIVITY = {
    Metric.of("AWS/Lambda", name, {"FunctionName": fn})
    for m in service_alarms().values()
    if m.get("Namespace") == "AWS/Lambda"
    for name, fn in [(m["MetricName"], m["Dimensions"][0]["Value"])]
}
SERVER_ERRORS = Metric.of(SERVICE_NAMESPACE, "ServerErrors", DIRECT)
PROXY_NAME_ONLY = {"ProxyName": PROXY_NAME}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def add_alarms(
    stubbed: Stubbed,
    alarms: dict[str, dict[str, Any]],
    *,
    resource_pages: int = 1,
    alarm_pages: int = 1,
) -> None:
    resources = stack_resources(alarms)
    add_stack_resources(stubbed.cloudformation, resources, resource_pages)
    add_describe_alarms(stubbed.cloudwatch, list(alarms.values()), alarm_pages)


def add_diagnostics(
    stubbed: Stubbed, world: CloudWatchMetrics, alarms: dict[str, Any], expect: Expectations
) -> None:
    """The second ListMetrics call for each metric not listed: same dimensions (warning) or
    the resource's other dimension values (failure), in the order the check judges them."""
    for metric in alarm_metrics(alarms):
        if metric in world.listed:
            continue
        watched = WatchedMetric(metric.namespace, metric.name, metric.dims)
        if expect.must_exist(watched):
            resource = {
                k: v
                for k, v in metric.dims
                if k in ("ProxyName", "DBInstanceIdentifier", "FunctionName", "ApiId")
            }
            world.add_other_dimensions(stubbed.cloudwatch, metric, resource)
        else:
            world.add_same_dimensions(stubbed.cloudwatch, metric)


def check(
    stubbed: Stubbed,
    expect: Expectations = AFTER_SMOKE,
    wait_s: int = 0,
    sleep: Sleeps | None = None,
) -> Tally:
    return check_alarm_metrics(
        stubbed.clients.cloudformation,
        stubbed.clients.cloudwatch,
        SERVICE_STACK,
        expect,
        wait_s=wait_s,
        sleep=sleep if sleep is not None else Sleeps(),
    )


def add_smoke_traffic(stubbed: Stubbed) -> None:
    """A whole smoke run up to the alarm check (stack outputs, invocations, API, proxy metrics)."""
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    add_direct_calls(stubbed)
    add_metrics(stubbed)


def run_smoke(stubbed: Stubbed, *argv: str, sleep: Sleeps | None = None) -> int:
    return smoke.main(
        ["--env", ENV, *argv],
        clients=stubbed.clients,
        http=FakeHttp(),
        now=lambda: NOW,
        sleep=sleep if sleep is not None else Sleeps(),
    )


# --- the catalog's table of metrics that appear only on activity ------------------------------


def test_only_database_instance_metrics_exist_before_any_activity() -> None:
    always = {(r.namespace, r.name) for r in mc.CATALOG if r.published_when is None}
    assert always == {
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "FreeableMemory"),
        ("AWS/RDS", "AuroraReplicaLag"),  # from an Aurora reader's creation on
    }
    # Per instance, and (Aurora) per cluster role.
    assert all(
        r.dimension_sets in ((mc.INSTANCE,), (mc.INSTANCE, mc.CLUSTER_ROLE))
        for r in mc.CATALOG
        if r.published_when is None
    )
    events = {getattr(mc, n) for n in dir(mc) if n.startswith("AFTER_")}
    for row in mc.CATALOG:
        if row.published_when is not None:
            assert row.published_when in events, row
            assert row.published_reason, row


def test_which_alarm_metrics_must_exist_after_the_smoke_traffic() -> None:
    verdicts = {
        logical_id: AFTER_SMOKE.must_exist(WatchedMetric(m.namespace, m.name, m.dims))
        for logical_id, alarm in service_alarms().items()
        for m in alarm_metrics({logical_id: alarm})
    }
    activity_only = {"MonitoringDirectServerErrorsAE44F76A"} | {
        f"Monitoring{i}" for i in FUNCTION_IDS
    }
    assert {i for i, must in verdicts.items() if not must} == activity_only
    assert len(verdicts) == 15


def test_traffic_events_follow_what_the_smoke_run_reached() -> None:
    assert smoke.traffic_events("id", api_ok=True) == {
        mc.AFTER_INVOCATION,
        mc.AFTER_PROXY_CONNECTION,
        mc.AFTER_API_REQUEST,
    }
    assert smoke.traffic_events("id", api_ok=False) == {
        mc.AFTER_INVOCATION,
        mc.AFTER_PROXY_CONNECTION,
    }
    assert smoke.traffic_events(None, api_ok=False) == {mc.AFTER_INVOCATION}


# --- the check ----------------------------------------------------------------------------------


def test_every_alarm_metric_found(stubbed: Stubbed, capsys: pytest.CaptureFixture[str]) -> None:
    alarms = service_alarms()
    add_alarms(stubbed, alarms)
    world = CloudWatchMetrics(published_after_traffic(alarms))
    for metric in alarm_metrics(alarms):
        world.add_lookup(stubbed.cloudwatch, metric)
    sleeps = Sleeps()

    tally = check(stubbed, wait_s=60, sleep=sleeps)

    stubbed.assert_done()
    assert (tally.alarms, tally.failures, tally.warnings) == (15, 0, 0)
    assert sleeps == []  # nothing missing: no waiting
    out = capsys.readouterr().out
    assert "eventually consistent" in out
    assert "ok    MonitoringProxyAvailability9D6ED15D  " in out
    # found only because the alarm reads the values CloudWatch publishes (literals in the stubs)
    assert (
        f"AvailabilityPercentage (ProxyName={PROXY_NAME}, TargetGroup=default, "
        "TargetRole=READWRITE): found"
    ) in out
    assert (
        "alarm metrics: 15 alarm(s): 15 found, 0 not yet published (warning), 0 missing (failure)"
        in out
    )


def test_activity_only_metrics_not_yet_published_are_warnings(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_smoke_traffic(stubbed)
    alarms = service_alarms()
    add_alarms(stubbed, alarms)
    world = CloudWatchMetrics(published_after_traffic(alarms) - LAMBDA_ACTIVITY - {SERVER_ERRORS})
    for metric in alarm_metrics(alarms):
        world.add_lookup(stubbed.cloudwatch, metric)
    add_diagnostics(stubbed, world, alarms, AFTER_SMOKE)
    sleeps = Sleeps()

    assert run_smoke(stubbed, sleep=sleeps) == 0

    stubbed.assert_done()
    assert sleeps == []  # warnings are not waited for
    out = capsys.readouterr().out
    assert (
        "warn  MonitoringFunctionsApiErrors770641E7         AWS/Lambda Errors "
        f"(FunctionName={API_FN}): "
        "not yet published (expected until the function's first failed invocation)"
    ) in out
    assert "not yet published (expected until the function's first throttled invocation)" in out
    assert "these dimensions already carry Duration, Invocations" in out
    assert (
        f"{SERVICE_NAMESPACE} ServerErrors (entrypoint=direct, service={SERVICE_NAME}): "
        "not yet published (expected until the entry point's first handled 5xx answer)"
    ) in out
    assert "these dimensions already carry OrdersCreated" in out
    assert "15 alarm(s): 8 found, 7 not yet published (warning), 0 missing (failure)" in out
    assert "smoke: all checks passed (7 warning(s))" in out
    assert "FAIL" not in out


def test_metric_that_should_exist_after_the_traffic_but_does_not_fails(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first ProxyAvailability alarm read TargetRole=READ_WRITE (the RDS API's enum); AWS
    # lists availability under READWRITE, so that alarm could never fire.
    add_smoke_traffic(stubbed)
    alarms = service_alarms()
    logical_id = "MonitoringProxyAvailability9D6ED15D"
    api_enum = {"ProxyName": PROXY_NAME, "TargetGroup": "default", "TargetRole": "READ_WRITE"}
    availability = Metric.of("AWS/RDS", "AvailabilityPercentage", api_enum)
    alarms[logical_id] = plain_alarm(
        logical_id, availability, "Average", threshold=100, comparison="LessThanThreshold"
    )
    add_alarms(stubbed, alarms)
    world = CloudWatchMetrics(published_after_traffic(alarms))
    for metric in alarm_metrics(alarms):
        world.add_lookup(stubbed.cloudwatch, metric)
    world.add_lookup(stubbed.cloudwatch, availability)  # asked again after 15 s
    world.add_lookup(stubbed.cloudwatch, availability)  # and after 30 s
    add_diagnostics(stubbed, world, alarms, AFTER_SMOKE)
    sleeps = Sleeps()

    assert run_smoke(stubbed, "--wait-metrics", "30", sleep=sleeps) == 1

    stubbed.assert_done()
    assert sleeps == [15, 15]
    out = capsys.readouterr().out
    assert "1 metric(s) not listed yet: asking again every 15 s for up to 30 s" in out
    assert (
        "FAIL  MonitoringProxyAvailability9D6ED15D          AWS/RDS AvailabilityPercentage "
        f"(ProxyName={PROXY_NAME}, TargetGroup=default, TargetRole=READ_WRITE): not "
        "published: should be listed by now (this run's traffic caused the proxy's first "
        "successful connection)"
    ) in out
    assert (
        f"listed instead under: ProxyName={PROXY_NAME}, TargetGroup=default, TargetRole=READWRITE"
        in out
    )
    assert (
        "`aws cloudwatch list-metrics --namespace AWS/RDS --metric-name AvailabilityPercentage "
        f"--dimensions Name=ProxyName,Value={PROXY_NAME}`"
    ) in out
    assert "up to 15 minutes to list a new metric" in out
    assert "15 alarm(s): 14 found, 0 not yet published (warning), 1 missing (failure)" in out
    assert "smoke: 1 check(s) failed" in out


def test_metric_listed_on_a_later_ask_passes(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    cpu = Metric.of("AWS/RDS", "CPUUtilization", DB)
    add_alarms(
        stubbed,
        {"MonitoringDbCpuHigh60905B62": plain_alarm("MonitoringDbCpuHigh60905B62", cpu, "Average")},
    )
    CloudWatchMetrics().add_lookup(stubbed.cloudwatch, cpu)
    CloudWatchMetrics({cpu}).add_lookup(stubbed.cloudwatch, cpu)
    sleeps = Sleeps()

    tally = check(stubbed, wait_s=60, sleep=sleeps)

    stubbed.assert_done()
    assert sleeps == [15]
    assert (tally.failures, tally.warnings) == (0, 0)
    assert "CPUUtilization (DBInstanceIdentifier=" in capsys.readouterr().out


def test_database_metric_missing_fails_without_any_traffic(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = Metric.of("AWS/RDS", "FreeStorageSpace", DB)
    logical_id = "MonitoringDbFreeStorageLowF70CF47B"
    add_alarms(stubbed, {logical_id: plain_alarm(logical_id, storage, "Minimum")})
    world = CloudWatchMetrics(
        {Metric.of("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "another-db"})}
    )
    world.add_lookup(stubbed.cloudwatch, storage)
    world.add_other_dimensions(stubbed.cloudwatch, storage, DB)

    tally = check(stubbed, NO_TRAFFIC)

    stubbed.assert_done()
    assert (tally.failures, tally.warnings) == (1, 0)
    out = capsys.readouterr().out
    assert (
        "not published: should be listed by now (AWS publishes it from the resource's creation on)"
        in out
    )
    assert "ListMetrics lists this metric under no dimension values of this resource yet" in out


def test_proxy_metrics_before_the_first_connection_are_warnings(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # smoke could not create an order nor call the API: no connection went through the proxy.
    logical_id = "MonitoringProxyPoolSaturatedBEE8497D"
    alarms = {logical_id: service_alarms()[logical_id]}
    add_alarms(stubbed, alarms)
    world = CloudWatchMetrics()
    expect = Expectations(SERVICE_NAMESPACE, smoke.traffic_events(None, api_ok=False))
    for metric in alarm_metrics(alarms):
        world.add_lookup(stubbed.cloudwatch, metric)
    add_diagnostics(stubbed, world, alarms, expect)
    sleeps = Sleeps()

    tally = check(stubbed, expect, wait_s=60, sleep=sleeps)

    stubbed.assert_done()
    assert sleeps == []
    assert (tally.failures, tally.warnings) == (0, 1)
    out = capsys.readouterr().out
    assert (
        out.count("not yet published (expected until the proxy's first successful connection)") == 2
    )
    assert "no other metric is listed under these dimensions yet" in out


def test_metric_math_inputs_are_checked_each_with_their_exact_dimensions(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # MaxDatabaseConnectionsAllowed is listed only with more dimensions than the alarm's input:
    # ListMetrics returns it for the ProxyName filter, and the check must not take it.
    logical_id = "MonitoringProxyPoolSaturatedBEE8497D"
    used = Metric.of("AWS/RDS", "DatabaseConnections", PROXY)
    allowed = Metric.of("AWS/RDS", "MaxDatabaseConnectionsAllowed", PROXY)
    per_target = Metric.of(
        "AWS/RDS",
        "MaxDatabaseConnectionsAllowed",
        {**PROXY, "TargetGroup": "default", "Target": DB_ID},
    )
    alarms = {logical_id: math_alarm(logical_id, {"used": used, "allowed": allowed})}
    add_alarms(stubbed, alarms)
    world = CloudWatchMetrics({used, per_target})
    world.add_lookup(stubbed.cloudwatch, used)
    world.add_lookup(stubbed.cloudwatch, allowed)
    world.add_other_dimensions(stubbed.cloudwatch, allowed, PROXY_NAME_ONLY)

    tally = check(stubbed)

    stubbed.assert_done()
    assert (tally.alarms, tally.failures, tally.warnings) == (1, 1, 0)
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if logical_id in line)
    assert lines[first].startswith("FAIL  ")
    assert lines[first].endswith(f"AWS/RDS DatabaseConnections (ProxyName={PROXY_NAME}): found")
    assert (
        f"MaxDatabaseConnectionsAllowed (ProxyName={PROXY_NAME}): not published" in lines[first + 1]
    )
    assert (
        f"listed instead under: ProxyName={PROXY_NAME}, Target={DB_ID}, TargetGroup=default"
        in lines[first + 2]
    )


def test_every_listing_is_paginated(stubbed: Stubbed, capsys: pytest.CaptureFixture[str]) -> None:
    alarms = service_alarms()
    add_alarms(stubbed, alarms, resource_pages=3, alarm_pages=2)
    world = CloudWatchMetrics(published_after_traffic(alarms))
    for metric in alarm_metrics(alarms):
        # the exact match comes after the metrics with more dimensions, on the second page
        world.add_lookup(stubbed.cloudwatch, metric, pages=2, exact_last=True)

    tally = check(stubbed)

    stubbed.assert_done()
    assert (tally.alarms, tally.failures, tally.warnings) == (15, 0, 0)
    assert "15 alarm(s): 15 found" in capsys.readouterr().out


def test_alarm_gone_from_cloudwatch_fails(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    cpu = Metric.of("AWS/RDS", "CPUUtilization", DB)
    kept = plain_alarm("MonitoringDbCpuHigh60905B62", cpu, "Average")
    gone = plain_alarm(
        "MonitoringDbFreeStorageLowF70CF47B", Metric.of("AWS/RDS", "FreeStorageSpace", DB)
    )
    ids = {"MonitoringDbCpuHigh60905B62": kept, "MonitoringDbFreeStorageLowF70CF47B": gone}
    add_stack_resources(stubbed.cloudformation, stack_resources(ids))
    stubbed.cloudwatch.add_response(
        "describe_alarms",
        {"MetricAlarms": [kept], "CompositeAlarms": []},
        expected_params={
            "AlarmNames": sorted(a["AlarmName"] for a in ids.values()),
            "AlarmTypes": ["MetricAlarm"],
        },
    )
    CloudWatchMetrics({cpu}).add_lookup(stubbed.cloudwatch, cpu)

    tally = check(stubbed)

    assert (tally.alarms, tally.failures) == (2, 1)
    assert (
        "FAIL  MonitoringDbFreeStorageLowF70CF47B in the stack but not in CloudWatch"
        in capsys.readouterr().out
    )


def test_metric_outside_the_catalog_is_a_warning(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    age = Metric.of("AWS/Lambda", "IteratorAge", {"FunctionName": "fn"})
    add_alarms(
        stubbed,
        {
            "MonitoringIteratorAge0A1B2C3D": plain_alarm(
                "MonitoringIteratorAge0A1B2C3D", age, "Maximum"
            )
        },
    )
    CloudWatchMetrics().add_lookup(stubbed.cloudwatch, age)

    tally = check(stubbed, wait_s=60)

    assert (tally.failures, tally.warnings) == (0, 1)
    assert "not in stacks/metric_catalog.py" in capsys.readouterr().out


def test_a_denied_read_is_a_warning_that_names_the_permissions(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stack_resources(stubbed.cloudformation, stack_resources(service_alarms()))
    stubbed.cloudwatch.add_client_error(
        "describe_alarms",
        service_error_code="AccessDenied",
        service_message=(
            "User: arn:aws:sts::123456789012:assumed-role/ReadOnly/jane is not authorized to "
            "perform: cloudwatch:DescribeAlarms"
        ),
        http_status_code=403,
    )

    tally = check(stubbed)

    assert (tally.failures, tally.warnings) == (0, 1)
    out = capsys.readouterr().out
    assert "warn  cannot check: AccessDenied" in out
    assert "cloudwatch:ListMetrics" in out


def test_wait_metrics_is_bounded(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        smoke.main(["--env", ENV, "--wait-metrics", "901"])
    assert exited.value.code == 2
    assert "901 refused: allowed 0..900 seconds" in capsys.readouterr().err


def test_a_missing_emf_metric_is_looked_up_without_a_resource_filter(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # After a handled 5xx the metric must exist; here the handlers emitted it under another
    # service name, so the diagnostic lists the namespace's ServerErrors without a dimension.
    logical_id = "MonitoringDirectServerErrorsAE44F76A"
    add_alarms(stubbed, {logical_id: plain_alarm(logical_id, SERVER_ERRORS)})
    other = Metric.of(SERVICE_NAMESPACE, "ServerErrors", {"entrypoint": "direct", "service": "svc"})
    world = CloudWatchMetrics({other})
    world.add_lookup(stubbed.cloudwatch, SERVER_ERRORS)
    world.add_other_dimensions(stubbed.cloudwatch, SERVER_ERRORS, {})
    expect = Expectations(SERVICE_NAMESPACE, frozenset({mc.AFTER_SERVER_ERROR}))

    tally = check(stubbed, expect)

    stubbed.assert_done()
    assert tally.failures == 1
    out = capsys.readouterr().out
    assert "this run's traffic caused the entry point's first handled 5xx answer" in out
    assert "listed instead under: entrypoint=direct, service=svc" in out
    assert (
        f"`aws cloudwatch list-metrics --namespace {SERVICE_NAMESPACE} --metric-name ServerErrors`"
        in out
    )


# --- the Aurora shape ---------------------------------------------------------------------------


def test_aurora_alarm_metrics_are_recognised_and_diagnosed_by_their_cluster() -> None:
    # The Aurora environment's alarms read the writer and the readers by DBClusterIdentifier +
    # Role (AWS's values WRITER / READER) and the readers' proxy availability by TargetRole
    # READ_ONLY, all written out here as CloudWatch lists them.
    cluster = "fixture-small-data-databasecluster5b53a178-q1w2e3r4t5y6"
    writer_cpu = WatchedMetric.of(
        "AWS/RDS",
        "CPUUtilization",
        [{"Name": "DBClusterIdentifier", "Value": cluster}, {"Name": "Role", "Value": "WRITER"}],
    )
    lag = WatchedMetric.of(
        "AWS/RDS",
        "AuroraReplicaLag",
        [{"Name": "DBClusterIdentifier", "Value": cluster}, {"Name": "Role", "Value": "READER"}],
    )
    readers = WatchedMetric.of(
        "AWS/RDS",
        "AvailabilityPercentage",
        [
            {"Name": "ProxyName", "Value": PROXY_NAME},
            {"Name": "TargetGroup", "Value": "default"},
            {"Name": "TargetRole", "Value": "READ_ONLY"},
        ],
    )
    # known to the catalog, so smoke can tell "not yet published" from "wrong dimensions"
    assert all(AFTER_SMOKE.fact(m) is not None for m in (writer_cpu, lag, readers))
    assert AFTER_SMOKE.must_exist(writer_cpu)
    assert AFTER_SMOKE.must_exist(lag)
    assert AFTER_SMOKE.must_exist(readers)
    assert not NO_TRAFFIC.must_exist(readers)
    # a missing one is compared with what CloudWatch lists for the same cluster, not the account
    assert lag.filters(RESOURCE_DIMENSIONS) == [{"Name": "DBClusterIdentifier", "Value": cluster}]
    assert lag.cli().endswith(
        f"--metric-name AuroraReplicaLag --dimensions Name=DBClusterIdentifier,Value={cluster}"
    )
