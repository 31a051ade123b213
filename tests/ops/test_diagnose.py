"""ops.diagnose against a stubbed account: each verdict, where max_connections comes from,
pagination, gaps, every error as one line with exit 2, the recommendation as make budget
computes it, the JSON keys and the plot."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops import diagnose
from ops.diagnose import DiagnoseClients
from ops.diagnose_report import FRAGMENT_POOL_WEIGHTS, fragment, fragment_budget
from stacks.budget import (
    PROXY_POOL_FUNCTIONS,
    connection_budget,
    default_max_connections,
    no_queue_excess,
)
from stacks.budget_report import report
from stacks.loader import load
from tests.fixture_config import SMALL, fixture_context
from tests.ops.aws_stubs import REGION
from tests.ops.diagnose_stubs import (
    API_FN,
    DB_ID,
    NOW,
    WORKER_FN,
    Account,
    Stubs,
    coupled_account_traffic,
    make_clients,
    melting_traffic,
    pooled_traffic,
    stub_account,
    stubbed,
    with_gaps,
)

pytestmark = pytest.mark.ops

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = (API_FN, WORKER_FN)


@pytest.fixture(scope="module")
def clients() -> DiagnoseClients:
    # loading the service models is the slow part: once, and only where these tests run (not
    # at collection, which every worker does)
    return make_clients()


@pytest.fixture
def stubs(aws_env: None, clients: DiagnoseClients) -> Iterator[Stubs]:
    with stubbed(clients) as queued:
        yield queued


def run(
    stubs: Stubs | None,
    *args: str,
    functions: tuple[str, ...] = (),
    days: int = 3,
) -> int:
    argv = ["--db", DB_ID, "--days", str(days), *args]
    if functions:
        argv += ["--functions", ",".join(functions)]
    return diagnose.main(argv, clients=stubs.clients if stubs else None, now=lambda: NOW)


def diagnosed(
    stubs: Stubs,
    capsys: pytest.CaptureFixture[str],
    acct: Account,
    *args: str,
    functions: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run with --json against `acct`; every queued answer must have been asked for."""
    stub_account(stubs, acct, functions)
    assert run(stubs, "--json", *args, functions=functions, days=acct.days) == 0
    stubs.assert_done()
    return dict(json.loads(capsys.readouterr().out))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err
    return lines[0]


# --- verdicts ---------------------------------------------------------------------------------


def test_peak_near_max_connections_is_melting(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two functions that open their own connections and a burst on the second day
    stub_account(stubs, Account(), FUNCTIONS)
    # WHEN diagnose reads three days
    assert run(stubs, functions=FUNCTIONS) == 0
    stubs.assert_done()
    text = capsys.readouterr().out
    # THEN the default formula gave the t4g.small value and the burst day melted
    assert "max_connections 198 (LEAST({DBInstanceClassMemory/9531392},5000) in parameter" in text
    assert "verdict      MELTING: peak 195 connections = 98 % of max_connections 198 at " in text
    assert "(melting from 90 %)" in text
    day_rows = [line for line in text.splitlines() if line.startswith("  2026-")]
    assert [row.split()[0] for row in day_rows] == ["2026-11-29", "2026-11-30", "2026-12-01"]
    assert day_rows[1].split()[1:3] == ["195", "98"]


def test_connections_that_follow_concurrency_melt_at_the_account_limit(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN account-wide concurrency that costs one connection per execution, peak at 37 %
    acct = Account(instance_class="db.t4g.medium", traffic=coupled_account_traffic())
    doc = diagnosed(stubs, capsys, acct)
    # THEN the fitted line reaches past 413 long before the account limit of 1000
    assert doc["concurrency"] == {
        "scope": "account", "functions": [], "account_limit": 1000, "unreserved": 1000,
    }  # fmt: skip
    assert doc["summary"]["peak_percent_of_max_connections"] < 60
    assert doc["coupling"]["coupled"] is True
    assert doc["coupling"]["slope"] == pytest.approx(1.0, abs=0.02)
    assert doc["verdict"]["level"] == "melting"
    assert doc["verdict"]["reason"].startswith(
        "each extra concurrent execution costs 1.00 connections (r = 1.00): the account limit "
        "of 1000 concurrent executions would need ~10"
    )
    assert doc["verdict"]["reason"].endswith("connections > max_connections 413")


def test_a_high_flat_level_behind_a_pooler_is_at_risk(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = Account(instance_class="db.t4g.medium", traffic=pooled_traffic(level=262))
    doc = diagnosed(stubs, capsys, acct, functions=(API_FN,))
    assert doc["coupling"]["coupled"] is False
    assert doc["verdict"]["level"] == "at risk"
    assert doc["verdict"]["reason"].startswith("peak 268 connections = 65 % of max_connections 413")
    assert doc["verdict"]["reason"].endswith("(at risk above 60 %)")


def test_parameter_group_number_and_unreserved_concurrency_make_it_at_risk(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN max_connections set to 1500 in a custom group and one connection per execution
    acct = Account(
        instance_class="db.m7g.large",
        parameter_group="orders-pg17",
        max_connections="1500",
        account_limit=1000,
        unreserved=1000,
        traffic=coupled_account_traffic(),
    )
    doc = diagnosed(stubs, capsys, acct)
    # THEN the group's number is used, not the class default (856)
    assert doc["database"]["max_connections"] == 1500
    assert doc["database"]["max_connections_source"] == "parameter-group"
    # and 1000 executions would need ~1008 connections: below 1500, above 60 % of it
    assert doc["verdict"]["level"] == "at risk"
    assert "the 1000 unreserved executions would need ~10" in doc["verdict"]["reason"]
    assert doc["verdict"]["reason"].endswith("above 60 % of max_connections 1500")
    # the pool is sized on 1500; the fragment on what the reference app deploys (856)
    proxy = doc["recommendation"]["proxy"]
    assert (proxy["max_connections"], proxy["headroom_min"], proxy["proxy_ceiling"]) == (
        1500, 150, 1350,
    )  # fmt: skip
    # the account can reserve 1000 - 100: the pool is not filled past that
    assert proxy["reserved_concurrency"] == {"all functions on the pool": 900}
    assert "default max_connections 856 (measured)" in doc["recommendation"]["cdk_json_note"]


@pytest.mark.parametrize(
    ("traffic", "follows"),
    [
        (
            coupled_account_traffic(high=40),
            "costs 1.00 connections (r = 1.00), but the 200 unreserved executions would need "
            "only ~20",
        ),
        (pooled_traffic(level=50, key=None), "connections do not follow concurrency one for one"),
    ],
    ids=["coupled-small-limit", "pooled"],
)
def test_low_peaks_within_a_small_limit_are_fine(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], traffic: Any, follows: str
) -> None:
    acct = Account(
        instance_class="db.t4g.medium", account_limit=200, unreserved=200, traffic=traffic
    )
    doc = diagnosed(stubs, capsys, acct)
    assert doc["verdict"]["level"] == "fine"
    assert follows in doc["verdict"]["reason"]


# --- max_connections sources --------------------------------------------------------------------


def test_aurora_uses_the_documented_value_for_its_class(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = Account(
        engine="aurora-postgresql",
        engine_version="16.6",
        instance_class="db.r6g.large",
        parameter_group="default.aurora-postgresql16",
        traffic=pooled_traffic(level=300, key=None),
    )
    doc = diagnosed(stubs, capsys, acct)
    assert doc["database"]["engine"] == "aurora-postgresql"
    assert (doc["database"]["max_connections"], doc["database"]["max_connections_source"]) == (
        1722, "documented",
    )  # fmt: skip


def test_a_group_without_max_connections_gives_the_class_default(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    stub_account(stubs, Account(max_connections=None), FUNCTIONS)
    assert run(stubs, functions=FUNCTIONS) == 0
    assert "198 (not set in the parameter group, class default: the measured value" in (
        capsys.readouterr().out
    )


def test_max_connections_override_skips_the_group_and_any_class(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a class the table does not know, and --max-connections
    acct = Account(instance_class="db.z1d.large", read_parameters=False)
    doc = diagnosed(stubs, capsys, acct, "--max-connections", "600", functions=FUNCTIONS)
    # THEN no DescribeDBParameters call (assert_done), the override is used, no fragment
    assert (doc["database"]["max_connections"], doc["database"]["max_connections_source"]) == (
        600, "override",
    )  # fmt: skip
    assert doc["recommendation"]["cdk_json"] is None
    assert "db.z1d.large is not in stacks/budget.py" in doc["recommendation"]["cdk_json_note"]


# --- pagination and gaps ----------------------------------------------------------------------


def test_both_metric_pages_are_read(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    # stub_metrics splits every series at the window's middle over two NextToken pages
    doc = diagnosed(stubs, capsys, Account(), functions=FUNCTIONS)
    assert [d["datapoints"] for d in doc["days"]] == [1440, 1440, 1440]
    assert doc["summary"]["datapoints"] == doc["summary"]["expected_datapoints"] == 3 * 1440
    assert doc["coupling"]["points"] == 3 * 1440


def test_gaps_show_as_missing_days_and_partial_coverage(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN no datapoint at all on 2026-11-30 and none before 06:00 on 2026-12-01
    gap_day, short_day = datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)

    def missing(when: datetime) -> bool:
        return gap_day <= when < gap_day + timedelta(days=1) or (
            short_day <= when < short_day + timedelta(hours=6)
        )

    stub_account(stubs, Account(traffic=with_gaps(melting_traffic(), missing)), FUNCTIONS)
    plot = tmp_path / "gaps.png"
    assert run(stubs, "--plot", str(plot), functions=FUNCTIONS) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  2")}
    # THEN the empty day has a row of dashes, the short day 75 % of its datapoints
    assert rows["2026-11-30"] == ["2026-11-30", "-", "-", "-", "-", "-", "0", "%"]
    assert rows["2026-12-01"][-2:] == ["75", "%"]
    window = next(line for line in text.splitlines() if line.startswith("  window"))
    assert window.split()[-2:] == ["58", "%"]  # (1440 + 0 + 1080) / 4320
    assert plot.stat().st_size > 10_000


# --- errors: exit 2, one line on stderr ----------------------------------------------------------


def test_no_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    assert run(None) == 2
    assert one_error_line(capsys) == (
        "error: no AWS credentials found: configure a profile (aws configure / aws sso login), "
        "pass --profile or set AWS_PROFILE"
    )


def test_no_region(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(None) == 2
    assert (
        one_error_line(capsys) == "error: no AWS region configured: pass --region or set AWS_REGION"
    )


def test_without_credentials_the_module_exits_2_with_one_line(tmp_path: Path) -> None:
    # What `make diagnose DB=orders-db` runs, in a plain interpreter with no AWS configuration
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("PYTHONPATH", "PYTEST_ADDOPTS")
    }
    env |= {
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ops.diagnose", "--db", "orders-db"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: no AWS credentials found: configure a profile (aws configure / aws sso login), "
        "pass --profile or set AWS_PROFILE"
    ]


def test_unknown_instance(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stubs.rds.add_client_error(
        "describe_db_instances", "DBInstanceNotFound", f"DBInstance {DB_ID} not found.", 404,
        expected_params={"DBInstanceIdentifier": DB_ID},
    )  # fmt: skip
    assert run(stubs) == 2
    assert one_error_line(capsys).startswith(
        f"error: no DB instance '{DB_ID}' in {REGION}: check the identifier"
    )


def test_another_engine_is_named(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stub_account(stubs, Account(engine="mysql", engine_version="8.0.40"))
    assert run(stubs) == 2
    assert one_error_line(capsys).startswith(
        f"error: {DB_ID} in {REGION} runs mysql, not PostgreSQL: diagnose reads RDS for "
        "PostgreSQL (postgres) and Aurora PostgreSQL (aurora-postgresql) instances only"
    )


@pytest.mark.parametrize(
    ("engine", "instance_class", "named"),
    [
        ("postgres", "db.x9.large", "instance class db.x9.large is not"),
        ("aurora-postgresql", "db.serverless", "db.serverless (Aurora Serverless v2: it follows"),
    ],
)
def test_unknown_class_is_named(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], engine: str, instance_class: str, named: str
) -> None:
    stub_account(stubs, Account(engine=engine, instance_class=instance_class))
    assert run(stubs) == 2
    line = one_error_line(capsys)
    assert named in line
    assert line.endswith(
        "in stacks/budget.py's max_connections table: pass --max-connections N "
        "(SHOW max_connections on the instance gives N)"
    )


def test_a_formula_other_than_the_default_is_not_guessed(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    stub_account(
        stubs, Account(parameter_group="custom", max_connections="{DBInstanceClassMemory/12000000}")
    )
    assert run(stubs) == 2
    assert "is '{DBInstanceClassMemory/12000000}', a formula diagnose does not evaluate" in (
        one_error_line(capsys)
    )


def test_no_connection_datapoints(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    traffic = melting_traffic()
    traffic.connections = {}
    stub_account(stubs, Account(traffic=traffic), FUNCTIONS)
    assert run(stubs, functions=FUNCTIONS) == 2
    assert one_error_line(capsys).startswith(
        f"error: no DatabaseConnections datapoints for {DB_ID} in the last 3 day(s) in {REGION}"
    )


def test_functions_without_datapoints(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN one misspelt name next to a real one: a note; only misspelt names: exit 2
    names = (API_FN, "orders-wrker")
    stub_account(stubs, Account(), names)
    assert run(stubs, functions=names) == 0
    assert "note         orders-wrker: no ConcurrentExecutions datapoints in the last 3 day(s)" in (
        capsys.readouterr().out
    )
    stub_account(stubs, Account(), ("orders-wrker",))
    assert run(stubs, functions=("orders-wrker",)) == 2
    assert one_error_line(capsys).startswith(
        "error: no ConcurrentExecutions datapoints for function(s) orders-wrker in the last 3"
    )


def test_no_account_wide_datapoints(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stub_account(stubs, Account(traffic=pooled_traffic(level=40, key="somebody-else")))
    assert run(stubs) == 2
    assert one_error_line(capsys) == (
        f"error: no account-wide ConcurrentExecutions datapoints in the last 3 day(s) in {REGION}: "
        "no function ran there; pick the region the functions run in or a longer DAYS"
    )


@pytest.mark.parametrize(
    ("operation", "code", "action"),
    [
        ("describe_db_instances", "AccessDenied", "rds:DescribeDBInstances"),
        ("describe_db_parameters", "AccessDenied", "rds:DescribeDBParameters"),
        ("get_account_settings", "AccessDeniedException", "lambda:GetAccountSettings"),
        ("get_metric_data", "AccessDenied", "cloudwatch:GetMetricData"),
    ],
)
def test_a_denied_call_names_its_iam_action(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], operation: str, code: str, action: str
) -> None:
    stub_account(stubs, Account(), fail_at=(operation, code))
    assert run(stubs) == 2
    stubs.assert_done()
    assert one_error_line(capsys) == (
        f"error: {action} was denied ({code}) in {REGION}: allow it to the identity running "
        "diagnose (docs/operate.md lists the four read-only actions it needs)"
    )


def test_rejected_credentials(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stub_account(stubs, Account(), fail_at=("describe_db_instances", "ExpiredToken"))
    assert run(stubs) == 2
    assert one_error_line(capsys).startswith(
        f"error: AWS rejected the credentials in {REGION}: ExpiredToken"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--db", DB_ID, "--days", "0"], "error: argument --days: 0 refused: allowed 1..455"),
        (["--db", DB_ID, "--days", "x"], "error: argument --days: 'x' is not a whole number"),
        ([], "error: the following arguments are required: --db"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        diagnose.main(argv)
    assert exited.value.code == 2
    assert one_error_line(capsys) == f"{message} (python -m ops.diagnose --help)"


def test_an_empty_db_is_refused_before_any_call(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # make diagnose without DB= passes --db ""
    assert diagnose.main(["--db", ""]) == 2
    assert one_error_line(capsys) == (
        "error: no database given: pass DB=<db-instance-identifier> (make) or --db"
    )


# --- the recommendation is make budget's arithmetic ---------------------------------------------


def test_the_fragment_gives_what_make_budget_computes(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the melting t4g.small (default formula: max_connections is the class default)
    doc = diagnosed(stubs, capsys, Account(), functions=FUNCTIONS)
    fragment = doc["recommendation"]["cdk_json"]
    # WHEN its cdk.json fragment is merged into an environment and loaded as make budget does
    config = load(SMALL, fixture_context(small=fragment))
    budget = connection_budget(config)
    # THEN make budget's numbers are the recommendation's, computed by the same function
    proposed = fragment_budget("t4g.small", None, 1000)
    assert proposed is not None
    assert budget == proposed[0]
    proxy = doc["recommendation"]["proxy"]
    assert (
        budget.max_connections, budget.max_connections_percent, budget.proxy_ceiling,
        budget.idle_ceiling, budget.headroom, budget.headroom_min,
    ) == (
        proxy["max_connections"], proxy["max_connections_percent"], proxy["proxy_ceiling"],
        proxy["idle_ceiling"], proxy["headroom"], proxy["headroom_min"],
    )  # fmt: skip
    assert (budget.max_connections, budget.proxy_ceiling) == (198, 178)
    # the pool functions fill the ceiling without queueing, 4:1 like the shipped profiles
    on_pool = {k: budget.reserved_concurrency[k] for k in PROXY_POOL_FUNCTIONS}
    assert sum(on_pool.values()) == budget.proxy_ceiling
    assert no_queue_excess(on_pool, budget.proxy_ceiling) == 0
    assert on_pool["api"] == pytest.approx(4 * on_pool["direct"], abs=4)
    assert set(FRAGMENT_POOL_WEIGHTS) == set(PROXY_POOL_FUNCTIONS)
    assert f"proxy server-connection ceiling  {budget.proxy_ceiling}" in report(config)
    # and the named functions share the same ceiling by their observed peaks
    reserved = proxy["reserved_concurrency"]
    assert sum(reserved.values()) == budget.proxy_ceiling
    assert reserved[API_FN] > reserved[WORKER_FN]


@pytest.mark.parametrize(
    ("instance_class", "headroom", "account_limit"),
    [
        ("t4g.micro", None, 1000),
        ("t3.medium", None, 1000),
        ("m7g.large", 2, 1000),  # below the schema's 5: the fragment keeps 5
        ("r8g.16xlarge", None, 1000),  # 5000 connections; the account can reserve 900
        ("r8g.16xlarge", None, 5000),  # api 3600 -> 1000, the schema's maximum
        ("t4g.small", None, 50),  # nothing to reserve: still 1 each, so the fragment loads
    ],
)
def test_fragments_load_for_every_kind_of_class(
    instance_class: str, headroom: int | None, account_limit: int
) -> None:
    proposed = fragment_budget(instance_class, headroom, account_limit)
    assert proposed is not None
    budget, idle_percent = proposed
    config = load(SMALL, fixture_context(small=fragment(budget, idle_percent)))
    assert connection_budget(config) == budget
    assert default_max_connections(instance_class)[1] == budget.max_connections


# --- output -----------------------------------------------------------------------------------

STATS_KEYS = {
    "peak_connections",
    "peak_connections_at",
    "peak_concurrency",
    "connections_per_execution",
    "peak_percent_of_max_connections",
    "near_limit_datapoints",
    "near_limit_minutes",
    "datapoints",
    "expected_datapoints",
}
BUDGET_KEYS = {
    "max_connections",
    "max_connections_percent",
    "max_idle_connections_percent",
    "proxy_ceiling",
    "idle_ceiling",
    "headroom",
    "headroom_min",
    "reserved_concurrency",
    "account_limit_needed",
}


def test_json_keys_are_the_documented_ones(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = diagnosed(stubs, capsys, Account(), functions=FUNCTIONS)
    assert set(doc) == {
        "schema_version", "database", "window", "concurrency", "summary", "days", "coupling",
        "verdict", "recommendation", "notes",
    }  # fmt: skip
    assert doc["schema_version"] == 1
    assert set(doc["database"]) == {
        "identifier", "engine", "engine_version", "instance_class", "parameter_group",
        "max_connections", "max_connections_source",
    }  # fmt: skip
    assert doc["window"] == {
        "start": "2026-11-29T00:00:00Z", "end": "2026-12-02T00:00:00Z", "days": 3, "period_s": 60,
    }  # fmt: skip
    assert set(doc["concurrency"]) == {"scope", "functions", "account_limit", "unreserved"}
    assert set(doc["summary"]) == STATS_KEYS
    assert all(set(day) == STATS_KEYS | {"date"} for day in doc["days"])
    assert set(doc["coupling"]) == {"points", "slope", "intercept", "correlation", "coupled"}
    assert set(doc["verdict"]) == {"level", "reason", "thresholds"}
    assert doc["verdict"]["thresholds"] == {
        "melting_peak_percent": 90, "at_risk_peak_percent": 60, "near_limit_percent": 90,
        "coupling_min_slope": 0.9, "coupling_min_correlation": 0.8, "coupling_min_points": 30,
    }  # fmt: skip
    assert set(doc["recommendation"]) == {"proxy", "account_limit", "cdk_json", "cdk_json_note"}
    assert set(doc["recommendation"]["proxy"]) == BUDGET_KEYS
    assert set(doc["recommendation"]["cdk_json"]) == {
        "database",
        "proxy",
        "functions",
        "monitoring",
    }


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_plot_is_a_png_of_reasonable_size(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "diagnose.png"
    stub_account(stubs, Account(), FUNCTIONS)
    assert run(stubs, "--plot", str(plot), functions=FUNCTIONS) == 0
    assert capsys.readouterr().out.endswith(f"plot: {plot}\n")
    data = plot.read_bytes()
    assert png_size(data) == (1200, 500)
    assert 20_000 < len(data) < 1_000_000


def test_an_unwritable_plot_path_is_one_line(
    stubs: Stubs, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stub_account(stubs, Account(), FUNCTIONS)
    missing_dir = tmp_path / "no" / "such" / "dir.png"
    assert run(stubs, "--plot", str(missing_dir), functions=FUNCTIONS) == 2
    assert one_error_line(capsys) == (
        f"error: cannot write the plot to {missing_dir}: No such file or directory"
    )


# --- the window ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "period"), [(1, 60), (14, 60), (15, 60), (16, 300), (63, 300), (64, 3600), (455, 3600)]
)
def test_the_period_is_the_finest_cloudwatch_keeps(days: int, period: int) -> None:
    assert diagnose.metric_period(days) == period
    window = diagnose.make_window(NOW, days)
    assert window.end == datetime(2026, 12, 2, tzinfo=UTC)
    assert window.end - window.start == timedelta(days=days)
    assert window.period_s == period


def test_make_diagnose_passes_its_variables() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "diagnose", "DB=orders-db",
         "FUNCTIONS=orders-api,orders-worker", "DAYS=7", "ARGS=--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.splitlines()[-1].endswith(
        'python -m ops.diagnose --db "orders-db" --functions "orders-api,orders-worker" '
        "--days 7 --json"
    )
    plain = subprocess.run(
        ["make", "--no-print-directory", "-n", "diagnose", "DB=orders-db"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert (
        plain.stdout.splitlines()[-1].rstrip().endswith('python -m ops.diagnose --db "orders-db"')
    )
