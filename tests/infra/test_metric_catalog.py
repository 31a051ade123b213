"""Every alarm and dashboard metric in the synthesized templates is one AWS really publishes.

The catalog (stacks/metric_catalog.py) holds the AWS facts with their doc URLs; these tests walk
the templates of the fixture environments and of every cdk.json environment and fail on a
metric, dimension set or statistic the catalog does not allow.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from cloudwatch_walk import MetricUse, alarm_metrics, dashboard_metrics
from infra_support import Synthesized

from stacks import metric_catalog as mc

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
