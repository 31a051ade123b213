"""Every alarm and dashboard metric in the synthesized templates is one AWS really publishes.

The catalog (stacks/metric_catalog.py) holds the AWS facts with their doc URLs; these tests walk
the templates of the fixture environments and of every cdk.json environment and fail on a
metric, dimension set or statistic the catalog does not allow, whether the constructs' own
`metric_*` helpers built the metric or the catalog did. The alarms the post-deploy check
(ops/alarm_metrics.py) is tested against are checked here to be the ones the stack synthesizes.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from cloudwatch_walk import MetricUse, alarm_metrics, dashboard_metrics
from infra_support import Synthesized

from stacks import metric_catalog as mc
from tests.ops import alarm_stubs
from tests.ops.aws_stubs import ENV as STUBBED_ENV

pytestmark = pytest.mark.infra


def _violations(uses: list[MetricUse], service_namespace: str) -> list[str]:
    problems = []
    for use in uses:
        try:
            mc.check(
                use.namespace,
                use.name,
                use.dimensions,
                use.statistic,
                service_namespace=service_namespace,
            )
        except mc.CatalogError as exc:
            problems.append(f"{use.where}: {exc}")
    return problems


def _all_uses(synth: Synthesized) -> list[MetricUse]:
    service = synth.service.to_json()
    return alarm_metrics(service) + dashboard_metrics(service)


def test_fixture_alarms_and_widgets_match_the_catalog(synth: Synthesized) -> None:
    uses = _all_uses(synth)
    assert len(alarm_metrics(synth.service.to_json())) >= 15
    assert len(dashboard_metrics(synth.service.to_json())) >= 20
    assert _violations(uses, synth.built.config.project.metrics_namespace) == []


def test_cdk_json_alarms_and_widgets_match_the_catalog(shipped: Synthesized) -> None:
    uses = _all_uses(shipped)
    assert uses
    assert _violations(uses, shipped.built.config.project.metrics_namespace) == []


def _first(uses: list[MetricUse], name: str, dimension: str) -> MetricUse:
    return next(u for u in uses if u.name == name and dimension in u.dimensions)


@pytest.mark.parametrize(
    ("name", "dimension", "change", "message"),
    [
        (
            "DatabaseConnectionsCurrentlySessionPinned",
            "ProxyName",
            {"statistic": "Maximum"},
            r"read with Maximum: use one of Sum",
        ),
        (
            "AvailabilityPercentage",
            "TargetRole",
            {"dimensions": {"ProxyName": "p"}},
            r"not published under ProxyName; AWS publishes it under: "
            r"ProxyName\+TargetGroup\+TargetRole",
        ),
        (
            "DatabaseConnections",
            "DBInstanceIdentifier",
            {"dimensions": {"DBInstanceIdentifier": "d", "DatabaseClass": "db.t4g.small"}},
            r"not published under DBInstanceIdentifier\+DatabaseClass",
        ),
        ("Errors", "FunctionName", {"name": "Error"}, r"AWS/Lambda/Error is not in"),
    ],
)
def test_the_walk_fails_on_what_aws_does_not_publish(
    synthesized: dict[str, Synthesized],
    name: str,
    dimension: str,
    change: dict[str, Any],
    message: str,
) -> None:
    # GIVEN a real use from a template, altered the way the old monitoring got it wrong
    synth = next(iter(synthesized.values()))
    use = _first(_all_uses(synth), name, dimension)
    fields = {**use.__dict__, **copy.deepcopy(change)}
    bad = MetricUse(**fields)
    # THEN the check names the metric and what AWS publishes instead
    (problem,) = _violations([bad], synth.built.config.project.metrics_namespace)
    assert re.search(message, problem), problem


def _shape(uses: list[MetricUse]) -> set[tuple[str, str, str, str, tuple[tuple[str, str], ...]]]:
    """What an alarm reads, with the dimension values a template or a stub cannot differ on:
    literals AWS fixes (TargetGroup, TargetRole) and the service dimensions; resource names
    (tokens in the template, physical names in the stubs) reduced to their dimension name."""
    resource = {"ProxyName", "DBInstanceIdentifier", "FunctionName", "ApiId"}
    return {
        (
            u.where,
            u.namespace,
            u.name,
            u.statistic,
            tuple(
                sorted((k, "<resource>" if k in resource else v) for k, v in u.dimensions.items())
            ),
        )
        for u in uses
    }


def test_the_alarm_check_is_tested_against_the_alarms_the_stack_synthesizes(
    synthesized: dict[str, Synthesized],
) -> None:
    # GIVEN the alarms tests/ops/alarm_stubs.py answers DescribeAlarms with (their logical ids
    # as CloudFormation lists them, hash suffixes included) and the stack they stand for
    stubbed = alarm_stubs.service_alarms()
    template = synthesized[STUBBED_ENV].service.to_json()
    as_described = {
        logical_id: {"Type": "AWS::CloudWatch::Alarm", "Properties": alarm}
        for logical_id, alarm in stubbed.items()
    }
    # THEN they read the same metrics, dimensions and statistics as the synthesized alarms
    assert _shape(alarm_metrics({"Resources": as_described})) == _shape(alarm_metrics(template))


def test_account_wide_concurrency_is_a_row_of_its_own() -> None:
    # What ops/diagnose.py reads when no function is named: no dimension at all.
    row = mc.check(mc.LAMBDA, "ConcurrentExecutions", {}, "Maximum")
    assert row.dimension_sets == (mc.ACCOUNT,)
    assert row.source == mc.LAMBDA_CONCURRENCY_DOC
    assert not row.verified  # the current AWS page does not state the account-level set
    per_function = mc.check(mc.LAMBDA, "ConcurrentExecutions", {"FunctionName": "f"}, "Maximum")
    assert per_function.verified
    assert per_function is not row
    with pytest.raises(mc.CatalogError) as refused:
        mc.check(mc.LAMBDA, "ConcurrentExecutions", {"Resource": "f:live"}, "Maximum")
    assert "AWS publishes it under: FunctionName | no dimension (" in str(refused.value)


def test_every_catalog_row_cites_an_aws_page() -> None:
    for row in mc.CATALOG:
        assert row.source.startswith("https://docs.aws.amazon.com/"), row
        assert row.statistics, row
        assert row.dimension_sets, row


def test_proxy_connection_counts_are_summed_over_nodes() -> None:
    # RDS Proxy publishes one data point per node: only Sum gives the proxy's total.
    for name in (
        "ClientConnections",
        "DatabaseConnections",
        "MaxDatabaseConnectionsAllowed",
        "DatabaseConnectionsCurrentlySessionPinned",
    ):
        (row,) = [r for r in mc.rows(mc.RDS, name) if mc.PROXY in r.dimension_sets]
        assert row.statistics == ("Sum",), name


def test_metric_defaults_to_the_catalog_statistic() -> None:
    ref = mc.metric(mc.RDS, "DatabaseConnections", mc.proxy_dimensions("p"))
    assert (ref.statistic, ref.fact.source) == ("Sum", mc.RDS_PROXY_DOC)
    ref = mc.metric(mc.RDS, "DatabaseConnections", {"DBInstanceIdentifier": "d"})
    assert ref.statistic == "Maximum"
    with pytest.raises(mc.CatalogError, match="read with Maximum"):
        mc.metric(mc.RDS, "ClientConnections", mc.proxy_dimensions("p"), "Maximum")


def test_percentiles_only_where_they_mean_something() -> None:
    assert mc.check(mc.LAMBDA, "Duration", {"FunctionName": "f"}, "p99")
    with pytest.raises(mc.CatalogError):
        mc.check(mc.LAMBDA, "Errors", {"FunctionName": "f"}, "p99")
