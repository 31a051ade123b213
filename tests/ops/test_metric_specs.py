"""Every CloudWatch metric the ops scripts read is one AWS publishes, read the way AWS says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ops import burst, diagnose, smoke
from ops.aws import MetricSpec, Outputs, proxy_metric
from stacks import metric_catalog as mc
from tests.ops.aws_stubs import API_FN, API_URL, DB_ID, DIRECT_FN, MIGRATION_FN, PROXY_NAME

pytestmark = pytest.mark.ops

OUTPUTS = Outputs(
    proxy_endpoint=f"{PROXY_NAME}.proxy-c1x2y3z4w5v6.eu-west-1.rds.amazonaws.com",
    proxy_name=PROXY_NAME,
    db_instance_identifier=DB_ID,
    api_url=API_URL,
    direct_function=DIRECT_FN,
    api_function=API_FN,
    migration_function=MIGRATION_FN,
)


def all_specs() -> list[MetricSpec]:
    return [*burst.burst_specs(OUTPUTS), *smoke.metric_specs(OUTPUTS)]


def test_every_spec_the_scripts_build_passes_the_catalog_check() -> None:
    specs = all_specs()
    assert len(specs) == 9
    for spec in specs:
        row = mc.check(spec.namespace, spec.name, spec.dimensions, spec.statistic)
        assert row is spec.ref.fact, spec


def test_diagnose_reads_the_catalog_rows_per_function_and_account_wide() -> None:
    per_function = diagnose.metric_specs(DB_ID, (API_FN,))
    account_wide = diagnose.metric_specs(DB_ID, ())
    for spec in (*per_function, *account_wide):
        assert mc.check(spec.namespace, spec.name, spec.dimensions, spec.statistic) is spec.ref.fact
    (acct,) = [s for s in account_wide if s.query_id == "acct"]
    assert (acct.namespace, acct.name, dict(acct.dimensions), acct.statistic) == (
        "AWS/Lambda",
        "ConcurrentExecutions",
        {},
        "Maximum",
    )
    assert acct.ref.fact in mc.CATALOG  # the catalog's own row, not one made up by diagnose


def test_proxy_connection_counts_are_read_with_sum() -> None:
    proxy_counts = [
        s for s in all_specs() if "ProxyName" in s.dimensions and s.ref.fact.unit == "Count"
    ]
    assert {s.name for s in proxy_counts} == {
        "ClientConnections",
        "DatabaseConnections",
        "MaxDatabaseConnectionsAllowed",
        "DatabaseConnectionsCurrentlySessionPinned",
    }
    assert {s.statistic for s in proxy_counts} == {"Sum"}


def test_the_old_maximum_or_a_wrong_dimension_is_refused() -> None:
    # What burst used before: one node's share of the proxy's connections.
    with pytest.raises(mc.CatalogError, match="read with Maximum: use one of Sum"):
        mc.metric(mc.RDS, "DatabaseConnections", {"ProxyName": PROXY_NAME}, "Maximum")
    # Availability lives only under ProxyName + TargetGroup + TargetRole.
    with pytest.raises(mc.CatalogError, match="not published under ProxyName"):
        proxy_metric("avail", "AvailabilityPercentage", PROXY_NAME)


def test_burst_reads_an_aurora_clusters_writer_by_role() -> None:
    aurora = replace(OUTPUTS, db_instance_identifier=None, db_cluster_identifier="fixture-cluster")
    (spec,) = [s for s in burst.burst_specs(aurora) if s.query_id == "instance"]
    assert dict(spec.dimensions) == {"DBClusterIdentifier": "fixture-cluster", "Role": "WRITER"}
    assert mc.check(spec.namespace, spec.name, spec.dimensions, spec.statistic) is spec.ref.fact
