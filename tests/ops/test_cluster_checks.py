"""make smoke on an Aurora environment: the cluster, its roles, the proxy's targets per role and
the read-only endpoint, against stubbed RDS answers (tests/ops/cluster_stubs.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

import stacks.loader
from ops import cluster_checks
from ops.aws import Outputs
from ops.cluster_checks import Row, cluster_rows, endpoint_rows
from orders import contract
from stacks import aws_facts
from stacks import outputs as out
from tests.ops.alarm_stubs import add_all_found
from tests.ops.aws_stubs import (
    API_FN,
    API_URL,
    DIRECT_FN,
    MIGRATION_FN,
    PROXY_NAME,
    JsonPayload,
    Stubbed,
    add_invoke,
    add_stacks,
)
from tests.ops.cluster_stubs import (
    AURORA_CONFIG,
    AURORA_CONTEXT,
    CLUSTER_ID,
    CLUSTER_OUTPUTS,
    DEFAULT_ENDPOINT,
    READER_ID,
    RO_HOST,
    WRITER_ID,
    Cluster,
    add_cluster,
    proxy_endpoint,
    target,
    tracked_cluster,
)
from tests.ops.test_smoke_script import FakeHttp, add_direct_calls, add_metrics, add_migration, run

pytestmark = pytest.mark.ops

OUTPUTS = Outputs(
    proxy_endpoint=CLUSTER_OUTPUTS[out.PROXY_ENDPOINT],
    proxy_name=PROXY_NAME,
    db_instance_identifier=None,
    api_url=API_URL,
    direct_function=DIRECT_FN,
    api_function=API_FN,
    migration_function=MIGRATION_FN,
    db_cluster_identifier=CLUSTER_ID,
    proxy_read_only_endpoint=RO_HOST,
)
ROWS = (
    "aurora cluster",
    "cluster roles",
    "cluster instances",
    "proxy writer target",
    "proxy reader targets",
    "proxy read-only endpoint",
)


def check(stubbed: Stubbed, cluster: Cluster, outputs: Outputs = OUTPUTS) -> dict[str, Row]:
    add_cluster(stubbed.rds, cluster)
    assert stubbed.clients.rds is not None
    rows = cluster_rows(stubbed.clients.rds, outputs, AURORA_CONFIG)
    stubbed.assert_done()
    return {row.name: row for row in rows}


def only_failure(rows: dict[str, Row]) -> Row:
    (failed,) = [row for row in rows.values() if not row.ok]
    return failed


# --- healthy ----------------------------------------------------------------------------------


def test_a_healthy_cluster_passes_every_check(stubbed: Stubbed) -> None:
    rows = check(stubbed, Cluster())
    assert tuple(rows) == ROWS
    assert all(row.ok for row in rows.values()), rows
    assert rows["aurora cluster"].detail == f"{CLUSTER_ID} available, Aurora PostgreSQL 17.9"
    assert rows["cluster roles"].detail == (
        f"writer {WRITER_ID}; 1 reader(s) {READER_ID} (reader_count 1)"
    )
    assert rows["cluster instances"].detail == "2 instance(s) available"
    assert rows["proxy writer target"].detail == f"READ_WRITE {WRITER_ID} AVAILABLE"
    assert rows["proxy reader targets"].detail == f"READ_ONLY {READER_ID} AVAILABLE"
    assert rows["proxy read-only endpoint"].detail == (
        "databaseproxyreadonlyendpoint-7h8j9k available, TargetRole READ_ONLY"
    )


@pytest.fixture
def aurora_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripts load the fixture's Aurora environment."""

    def read(cdk_json: Path | None = None) -> dict[str, Any]:
        assert cdk_json is None
        return AURORA_CONTEXT

    monkeypatch.setattr(stacks.loader, "read_context", read)


# The direct function's check_endpoints answer, written out as the handler returns it.
REACHED = {
    "statusCode": 200,
    "body": {
        "writer": {"ok": True, "in_recovery": False},
        "reader": {"ok": True, "in_recovery": True},
    },
}


def add_smoke_run(
    stubbed: Stubbed, rds: Callable[[Stubber], None], endpoints: dict[str, Any] = REACHED
) -> None:
    """A whole smoke run of the Aurora environment; `rds` queues RDS's answers, `endpoints`
    is the direct function's check_endpoints answer."""
    add_stacks(stubbed.cloudformation, AURORA_CONFIG, data=CLUSTER_OUTPUTS)
    rds(stubbed.rds)
    add_migration(stubbed)
    add_invoke(
        stubbed.lambda_,
        DIRECT_FN,
        endpoints,
        expect=JsonPayload(action=contract.CHECK_ENDPOINTS_ACTION),
    )
    add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)


def test_smoke_checks_the_cluster_shape_before_the_traffic(
    aurora_env: None, stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_smoke_run(stubbed, lambda rds: add_cluster(rds, Cluster()))

    assert run(stubbed, FakeHttp()) == 0

    stubbed.assert_done()
    printed = capsys.readouterr().out
    assert f"ok    proxy reader targets   READ_ONLY {READER_ID} AVAILABLE" in printed
    assert printed.index("proxy read-only endpoint") < printed.index("migration function")
    # then the functions' own view: each endpoint answered, the read-only one from a replica
    assert "ok    writer endpoint        answered from the writer (pg_is_in_recovery false)" in (
        printed
    )
    assert "ok    read-only endpoint     answered from a replica (pg_is_in_recovery true)" in (
        printed
    )
    assert "smoke: all checks passed" in printed


def test_smoke_fails_when_the_functions_cannot_reach_the_read_only_endpoint(
    aurora_env: None, stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN RDS reports everything healthy, but the reader endpoint does not answer the function
    unreachable = {"ok": False, "error": "DatabaseUnavailableError"}
    answer = {**REACHED, "body": {**REACHED["body"], "reader": unreachable}}
    add_smoke_run(stubbed, lambda rds: add_cluster(rds, Cluster()), endpoints=answer)

    assert run(stubbed, FakeHttp()) == 1

    stubbed.assert_done()
    printed = capsys.readouterr().out
    assert "ok    writer endpoint" in printed
    assert (
        "FAIL  read-only endpoint     did not answer the functions (DatabaseUnavailableError)"
        in printed
    )
    assert "fix: the functions could not use the read-only endpoint: the proxy's security" in (
        printed
    )
    assert "a READ_ONLY target must be AVAILABLE" in printed
    assert "smoke: 1 check(s) failed" in printed


def test_smoke_fails_when_the_direct_function_does_not_know_the_action(
    aurora_env: None, stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a direct function deployed before check_endpoints existed
    old = {"statusCode": 400, "body": {"error": {"code": "ValidationError", "message": "action"}}}
    add_smoke_run(stubbed, lambda rds: add_cluster(rds, Cluster()), endpoints=old)

    assert run(stubbed, FakeHttp()) == 1

    printed = capsys.readouterr().out
    assert "FAIL  endpoint check         status 400: " in printed
    assert (
        "fix: the direct function must know the action check_endpoints: make deploy ENV=small"
        in (printed)
    )


def test_smoke_fails_on_a_cluster_failure_and_prints_the_fix(
    aurora_env: None, stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_smoke_run(stubbed, lambda rds: add_cluster(rds, Cluster(status="failing-over")))

    assert run(stubbed, FakeHttp()) == 1

    printed = capsys.readouterr().out
    assert f"FAIL  aurora cluster         {CLUSTER_ID} is failing-over, not available" in printed
    assert "fix: wait until it is available" in printed
    assert "smoke: 1 check(s) failed" in printed


def test_smoke_warns_when_the_identity_may_not_read_the_cluster(
    aurora_env: None, stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_smoke_run(
        stubbed,
        lambda rds: rds.add_client_error(
            "describe_db_clusters", "AccessDenied", "not authorized", 403
        ),
    )

    assert run(stubbed, FakeHttp()) == 0

    printed = capsys.readouterr().out
    assert "not checked: DescribeDBClusters was denied (AccessDenied)" in printed
    assert "smoke: all checks passed (1 warning(s))" in printed


# --- each failure names the problem and the fix -------------------------------------------------


def test_a_cluster_that_is_not_available_fails(stubbed: Stubbed) -> None:
    failed = only_failure(check(stubbed, Cluster(status="modifying")))
    assert (failed.name, failed.detail) == (
        "aurora cluster",
        f"{CLUSTER_ID} is modifying, not available",
    )
    assert f"aws rds describe-events --source-type db-cluster --source-identifier {CLUSTER_ID}" in (
        failed.fix
    )


def test_a_missing_reader_fails_the_roles_and_the_reader_targets(stubbed: Stubbed) -> None:
    # GIVEN reader_count 1 but only the writer exists (the reader was deleted by hand)
    cluster = Cluster(
        members={WRITER_ID: (True, "available")},
        targets=[tracked_cluster(), target(WRITER_ID, "READ_WRITE")],
    )
    rows = check(stubbed, cluster)
    failed = {name for name, row in rows.items() if not row.ok}
    assert failed == {"cluster roles", "proxy reader targets"}
    roles = rows["cluster roles"]
    assert roles.detail == f"writer {WRITER_ID}; 0 reader(s): expected 1 reader(s)"
    assert "database.reader_count is 1: redeploy (make deploy ENV=small)" in roles.fix
    assert "detect-stack-drift --stack-name Fixture-small-Data" in roles.fix
    assert rows["proxy reader targets"].detail == "READ_ONLY none: expected 1"


def test_a_member_instance_that_is_not_available_fails(stubbed: Stubbed) -> None:
    cluster = Cluster(members={WRITER_ID: (True, "available"), READER_ID: (False, "rebooting")})
    failed = only_failure(check(stubbed, cluster))
    assert (failed.name, failed.detail) == ("cluster instances", f"{READER_ID} is rebooting")
    assert failed.fix.startswith("wait until every instance is available")


def test_an_unavailable_reader_target_fails_with_its_reason(stubbed: Stubbed) -> None:
    sick = target(
        READER_ID,
        "READ_ONLY",
        "UNAVAILABLE",
        Reason="AUTH_FAILURE",
        Description="IAM authentication failed for user shop_app",
    )
    failed = only_failure(
        check(stubbed, Cluster(targets=[tracked_cluster(), target(WRITER_ID, "READ_WRITE"), sick]))
    )
    assert failed.name == "proxy reader targets"
    assert failed.detail == (
        f"READ_ONLY {READER_ID} UNAVAILABLE (AUTH_FAILURE: IAM authentication failed for user "
        "shop_app)"
    )
    assert "the app user needs the rds_iam role" in failed.fix


def test_an_unhealthy_writer_target_fails(stubbed: Stubbed) -> None:
    sick = target(WRITER_ID, "READ_WRITE", "UNAVAILABLE", Reason="UNREACHABLE")
    cluster = Cluster(targets=[tracked_cluster(), sick, target(READER_ID, "READ_ONLY")])
    failed = only_failure(check(stubbed, cluster))
    assert (failed.name, failed.detail) == (
        "proxy writer target",
        f"READ_WRITE {WRITER_ID} UNAVAILABLE (UNREACHABLE)",
    )
    assert "security group must admit the proxy's" in failed.fix


def test_a_target_group_that_tracks_no_cluster_fails(stubbed: Stubbed) -> None:
    cluster = Cluster(targets=[tracked_cluster("someone-elses-cluster")])
    rows = check(stubbed, cluster)
    writer = rows["proxy writer target"]
    assert not writer.ok
    assert writer.detail == f"{PROXY_NAME} tracks someone-elses-cluster, not {CLUSTER_ID}"


def test_a_missing_read_only_endpoint_fails(stubbed: Stubbed) -> None:
    failed = only_failure(check(stubbed, Cluster(endpoints=[DEFAULT_ENDPOINT])))
    assert (failed.name, failed.detail) == (
        "proxy read-only endpoint",
        f"{PROXY_NAME} has no endpoint {RO_HOST}",
    )
    assert failed.fix == "proxy.read_only_endpoint is true: make deploy ENV=small"


def test_a_read_only_endpoint_that_is_not_available_fails(stubbed: Stubbed) -> None:
    broken = proxy_endpoint(
        "databaseproxyreadonlyendpoint-7h8j9k", RO_HOST, "READ_ONLY", "incompatible-network"
    )
    failed = only_failure(check(stubbed, Cluster(endpoints=[DEFAULT_ENDPOINT, broken])))
    assert failed.detail == (
        "databaseproxyreadonlyendpoint-7h8j9k incompatible-network, TargetRole READ_ONLY: "
        "not available"
    )
    assert "incompatible-network means its subnets or security groups" in failed.fix


def test_a_stack_without_the_read_only_output_fails_without_asking_rds(stubbed: Stubbed) -> None:
    rows = check(stubbed, Cluster(endpoints=None), replace(OUTPUTS, proxy_read_only_endpoint=None))
    failed = rows["proxy read-only endpoint"]
    assert not failed.ok
    assert failed.detail == "the data stack has no ProxyReadOnlyEndpoint output"


# --- the functions' view of the endpoints -------------------------------------------------------


def test_a_read_only_endpoint_answered_by_the_writer_fails() -> None:
    answer = {
        "writer": {"ok": True, "in_recovery": False},
        "reader": {"ok": True, "in_recovery": False},
    }
    writer, reader = endpoint_rows(answer, "small")
    assert writer.ok
    assert (reader.name, reader.ok) == ("read-only endpoint", False)
    assert reader.detail == "answered from the writer (pg_is_in_recovery false), expected a replica"
    assert reader.fix.startswith("DB_READ_HOST must be the ProxyReadOnlyEndpoint output")


def test_functions_without_a_read_host_fail_the_read_only_row() -> None:
    writer, reader = endpoint_rows(
        {"writer": {"ok": True, "in_recovery": False}, "reader": None}, "small"
    )
    assert writer.ok
    assert (reader.ok, reader.detail) == (False, "the functions have no DB_READ_HOST")
    assert "make deploy ENV=small" in reader.fix


def test_an_unreachable_or_replica_writer_endpoint_fails() -> None:
    reached = {"ok": True, "in_recovery": True}
    (down, _) = endpoint_rows(
        {"writer": {"ok": False, "error": "DatabaseTimeoutError"}, "reader": reached}, "small"
    )
    assert (down.name, down.ok) == ("writer endpoint", False)
    assert down.detail == "did not answer the functions (DatabaseTimeoutError)"
    assert "a READ_WRITE target must be AVAILABLE" in down.fix
    (replica, _) = endpoint_rows({"writer": reached, "reader": reached}, "small")
    assert not replica.ok
    assert replica.detail == "answered from a replica (pg_is_in_recovery true), expected the writer"


# --- the AWS vocabulary the checks rely on ------------------------------------------------------


def test_the_facts_and_fixes_use_the_rds_api_enums() -> None:
    """The literals in stacks/aws_facts.py and the fix table are values botocore's RDS model
    (generated from the API) allows: a misspelt one would never match an answer."""
    model = botocore.session.get_session().get_service_model("rds")

    def enum(shape: str) -> set[str]:
        return set(model.shape_for(shape).enum)

    assert set(aws_facts.RDS_PROXY_TARGET_TYPES.value.values()) <= enum("TargetType")
    assert set(aws_facts.RDS_PROXY_TARGET_ROLES.value.values()) <= enum("TargetRole")
    assert set(aws_facts.RDS_PROXY_TARGET_ROLES.value.values()) <= enum("DBProxyEndpointTargetRole")
    assert aws_facts.RDS_PROXY_TARGET_AVAILABLE.value in enum("TargetState")
    assert aws_facts.RDS_PROXY_ENDPOINT_AVAILABLE.value in enum("DBProxyEndpointStatus")
    assert set(cluster_checks.TARGET_FIXES) == enum("TargetHealthReason")
