"""A stubbed account for the make diagnose tests: an instance, its parameter group, the Lambda
limits and synthetic CloudWatch series, queued in the order ops.diagnose asks for them.

Every series is made up here (deterministic: sine waves and a seeded generator); none comes
from a real account. `python -m tests.ops.diagnose_stubs docs/diagnose-example.png` prints the
report of the docs example and writes its plot.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber

from ops.diagnose import DiagnoseClients
from tests.ops.aws_stubs import ACCESS_KEY, ACCOUNT, REGION

DB_ID = "orders-db"
API_FN, WORKER_FN = "orders-api", "orders-worker"
NOW = datetime(2026, 12, 2, 0, 0, 42, tzinfo=UTC)  # the window ends at 2026-12-02 00:00 UTC
DEFAULT_FORMULA = "LEAST({DBInstanceClassMemory/9531392},5000)"
FIXTURE_NOTE = "FIXTURE DATA (tests/ops/diagnose_stubs.py), not a real account"
Series = dict[datetime, float]


def make_clients() -> DiagnoseClients:
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=REGION,
    )
    return DiagnoseClients(
        region=REGION,
        rds=session.client("rds"),
        cloudwatch=session.client("cloudwatch"),
        lambda_=session.client("lambda"),
    )


@dataclass
class Stubs:
    clients: DiagnoseClients
    rds: Stubber
    cloudwatch: Stubber
    lambda_: Stubber

    def assert_done(self) -> None:
        for stub in (self.rds, self.cloudwatch, self.lambda_):
            stub.assert_no_pending_responses()


@contextmanager
def stubbed(clients: DiagnoseClients) -> Iterator[Stubs]:
    stubs = Stubs(
        clients, Stubber(clients.rds), Stubber(clients.cloudwatch), Stubber(clients.lambda_)
    )
    with stubs.rds, stubs.cloudwatch, stubs.lambda_:
        yield stubs


# --- synthetic traffic ------------------------------------------------------------------------


def minutes(days: int, end: datetime = NOW) -> list[datetime]:
    stop = end.replace(second=0, microsecond=0)
    start = stop - timedelta(days=days)
    return [start + timedelta(minutes=i) for i in range(days * 1440)]


def diurnal(when: datetime, low: float, high: float) -> float:
    """A daily wave: `low` at 03:00 UTC, `high` at 15:00 UTC."""
    phase = (when.hour * 60 + when.minute - 180) / 1440 * 2 * math.pi
    return low + (high - low) * (1 - math.cos(phase)) / 2


def direct_connections(concurrency: Series, baseline: float, cap: float, linger: int = 5) -> Series:
    """Connections of functions that each open their own: every environment keeps its
    connection for `linger` minutes after its last execution, plus a baseline of admin/agents;
    PostgreSQL refuses the ones above `cap`."""
    times = sorted(concurrency)
    out: Series = {}
    for i, when in enumerate(times):
        recent = max(concurrency[t] for t in times[max(0, i - linger) : i + 1])
        out[when] = float(min(cap, round(baseline + recent)))
    return out


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311  # reproducible synthetic series, not secrets


@dataclass
class Traffic:
    """Per-function (or account-wide: key None) concurrency and the instance's connections."""

    concurrency: dict[str | None, Series]
    connections: Series


def melting_traffic(days: int = 3, seed: int = 7) -> Traffic:
    """Two functions with direct connections on a t4g.small; a burst on the second day."""
    rng = _rng(seed)
    api: Series = {}
    worker: Series = {}
    times = minutes(days)
    burst_day = times[1440].date()
    for when in times:
        burst = 95 if (when.date(), when.hour) == (burst_day, 14) else 0
        api[when] = round(diurnal(when, 4, 70) + burst + rng.uniform(0, 8))
        worker[when] = round(diurnal(when, 2, 25) + rng.uniform(0, 4))
    total = {t: api[t] + worker[t] for t in api}
    return Traffic({API_FN: api, WORKER_FN: worker}, direct_connections(total, 6, 195))


def coupled_account_traffic(days: int = 3, seed: int = 11, high: float = 140) -> Traffic:
    """Account-wide: every execution holds a connection, peaks well below max_connections."""
    rng = _rng(seed)
    conc = {t: float(round(diurnal(t, 3, high) + rng.uniform(0, 6))) for t in minutes(days)}
    return Traffic({None: conc}, direct_connections(conc, 8, 10_000, linger=0))


def pooled_traffic(
    days: int = 3, seed: int = 5, level: float = 262, key: str | None = API_FN
) -> Traffic:
    """Behind a pooler already: connections hover at a level whatever the concurrency (of the
    function `key`, or account-wide: None)."""
    rng = _rng(seed)
    conc = {t: float(round(diurnal(t, 5, 160) + rng.uniform(0, 10))) for t in minutes(days)}
    conn = {t: float(round(level + rng.uniform(-6, 6))) for t in conc}
    return Traffic({key: conc}, conn)


def with_gaps(traffic: Traffic, missing: Callable[[datetime], bool]) -> Traffic:
    """Drop every datapoint at a time `missing` says (CloudWatch had none there)."""
    return Traffic(
        {k: {t: v for t, v in s.items() if not missing(t)} for k, s in traffic.concurrency.items()},
        {t: v for t, v in traffic.connections.items() if not missing(t)},
    )


# --- the account ------------------------------------------------------------------------------


@dataclass
class Account:
    """What the stubbed account answers; defaults: RDS for PostgreSQL t4g.small, default group."""

    instance_class: str = "db.t4g.small"
    engine: str = "postgres"
    engine_version: str = "17.9"
    parameter_group: str = "default.postgres17"
    max_connections: str | None = DEFAULT_FORMULA  # None: the group does not list it
    account_limit: int = 1000
    unreserved: int = 1000
    traffic: Traffic = field(default_factory=melting_traffic)
    days: int = 3
    read_parameters: bool = True  # False: --max-connections given, the group is not read


def instance_response(acct: Account) -> dict[str, Any]:
    return {
        "DBInstances": [
            {
                "DBInstanceIdentifier": DB_ID,
                "DBInstanceClass": acct.instance_class,
                "Engine": acct.engine,
                "EngineVersion": acct.engine_version,
                "DBInstanceStatus": "available",
                "DBParameterGroups": [
                    {
                        "DBParameterGroupName": acct.parameter_group,
                        "ParameterApplyStatus": "in-sync",
                    }
                ],
                "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB_ID}",
                "MultiAZ": False,
            }
        ]
    }


def _parameter(name: str, value: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ParameterName": name,
        "Source": "system",
        "ApplyType": "static",
        "DataType": "integer",
        "IsModifiable": True,
        "ApplyMethod": "pending-reboot",
    }
    if value is not None:
        row["ParameterValue"] = value
    return row


def stub_parameters(stubs: Stubs, acct: Account) -> None:
    """Two pages: the paginator must follow the marker to find max_connections."""
    group = {"DBParameterGroupName": acct.parameter_group}
    first = [_parameter("autovacuum", "1"), _parameter("log_min_duration_statement", "-1")]
    second = [_parameter("maintenance_work_mem", "65536")]
    if acct.max_connections is not None:
        second.append(_parameter("max_connections", acct.max_connections))
    stubs.rds.add_response(
        "describe_db_parameters", {"Parameters": first, "Marker": "page-2"}, group
    )
    stubs.rds.add_response(
        "describe_db_parameters", {"Parameters": second}, {**group, "Marker": "page-2"}
    )


def account_settings(acct: Account) -> dict[str, Any]:
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": acct.account_limit,
            "UnreservedConcurrentExecutions": acct.unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 41943040, "FunctionCount": 12},
    }


def metric_queries(functions: tuple[str, ...], period: int = 60) -> list[dict[str, Any]]:
    """The GetMetricData queries diagnose must send (written out, not taken from ops)."""

    def query(qid: str, label: str, namespace: str, name: str, dims: Mapping[str, str]) -> Any:
        return {
            "Id": qid,
            "Label": label,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                },
                "Period": period,
                "Stat": "Maximum",
            },
        }

    queries = [
        query("conn", "DB DatabaseConnections", "AWS/RDS", "DatabaseConnections",
              {"DBInstanceIdentifier": DB_ID}),
    ]  # fmt: skip
    if not functions:
        return [
            *queries,
            query("acct", "Lambda ConcurrentExecutions (account)", "AWS/Lambda",
                  "ConcurrentExecutions", {}),
        ]  # fmt: skip
    return queries + [
        query(f"fn{i}", "Lambda ConcurrentExecutions", "AWS/Lambda", "ConcurrentExecutions",
              {"FunctionName": name})
        for i, name in enumerate(functions)
    ]  # fmt: skip


def _result(qid: str, series: Series) -> dict[str, Any]:
    times = sorted(series)
    return {
        "Id": qid,
        "Label": qid,
        "Timestamps": times,
        "Values": [series[t] for t in times],
        "StatusCode": "Complete",
    }


def stub_metrics(stubs: Stubs, acct: Account, functions: tuple[str, ...]) -> None:
    """Two GetMetricData pages (NextToken), each holding half of every series."""
    series = {"conn": acct.traffic.connections}
    if functions:
        series |= {f"fn{i}": acct.traffic.concurrency.get(n, {}) for i, n in enumerate(functions)}
    else:
        series["acct"] = acct.traffic.concurrency.get(None, {})
    end = NOW.replace(second=0)
    params = {
        "MetricDataQueries": metric_queries(functions),
        "StartTime": end - timedelta(days=acct.days),
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    middle = end - timedelta(days=acct.days / 2)
    first = [_result(q, {t: v for t, v in s.items() if t < middle}) for q, s in series.items()]
    second = [_result(q, {t: v for t, v in s.items() if t >= middle}) for q, s in series.items()]
    stubs.cloudwatch.add_response(
        "get_metric_data", {"MetricDataResults": first, "NextToken": "page-2"}, params
    )
    stubs.cloudwatch.add_response(
        "get_metric_data", {"MetricDataResults": second}, {**params, "NextToken": "page-2"}
    )


# The calls in the order diagnose makes them.
CALLS = (
    "describe_db_instances",
    "describe_db_parameters",
    "get_account_settings",
    "get_metric_data",
)


def stub_account(
    stubs: Stubs,
    acct: Account,
    functions: tuple[str, ...] = (),
    *,
    fail_at: tuple[str, str] | None = None,
) -> None:
    """Queue every answer diagnose asks for, in the order it asks; `fail_at` (operation, error
    code): that call fails and nothing after it is queued."""
    failing, code = fail_at or ("", "")
    queue = {
        "describe_db_instances": lambda: stubs.rds.add_response(
            "describe_db_instances", instance_response(acct), {"DBInstanceIdentifier": DB_ID}
        ),
        "describe_db_parameters": lambda: stub_parameters(stubs, acct),
        "get_account_settings": lambda: stubs.lambda_.add_response(
            "get_account_settings", account_settings(acct), {}
        ),
        "get_metric_data": lambda: stub_metrics(stubs, acct, functions),
    }
    for call in CALLS:
        if call == "describe_db_parameters" and not acct.read_parameters:
            continue
        if call == failing:
            stub = (
                stubs.lambda_
                if call == "get_account_settings"
                else (stubs.cloudwatch if call == "get_metric_data" else stubs.rds)
            )
            stub.add_client_error(call, code, "User is not authorized to perform it", 403)
            return
        queue[call]()


# --- the docs example -------------------------------------------------------------------------

EXAMPLE_DAYS = 7


def example_account() -> Account:
    return Account(traffic=melting_traffic(EXAMPLE_DAYS), days=EXAMPLE_DAYS, unreserved=950)


def main(argv: list[str]) -> int:
    """Print the docs example's report and write its plot to argv[0]."""
    from ops import diagnose  # noqa: PLC0415

    functions = (API_FN, WORKER_FN)
    with stubbed(make_clients()) as stubs:
        stub_account(stubs, example_account(), functions)
        return diagnose.main(
            ["--db", DB_ID, "--functions", ",".join(functions), "--days", str(EXAMPLE_DAYS),
             "--plot", argv[0]],
            clients=stubs.clients,
            now=lambda: NOW,
            plot_note=FIXTURE_NOTE,
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
