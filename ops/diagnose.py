"""Read-only: is an existing Lambda -> RDS/Aurora PostgreSQL setup near max_connections, and what
proxy budget would fix it (make diagnose).

Reads DescribeDBInstances, DescribeDBParameters (max_connections), Lambda GetAccountSettings and
CloudWatch GetMetricData (DatabaseConnections of the instance, ConcurrentExecutions of the named
functions or of the account), then prints peaks per day and for the window, a verdict and the
proxy pool and reserved concurrency stacks/budget.py computes. Exit 0 with a report; 2 with one
line on stderr when it cannot run (credentials, region, unknown instance, other engine, unknown
class, no datapoints, a denied call).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import (
    ACCESS_DENIED,
    AUTH_ERRORS,
    BASE_CONFIG,
    MetricSpec,
    OpsError,
    function_metric,
    instance_metric,
    open_session,
    read_metrics,
    run_guarded,
)
from ops.cli import fail
from ops.diagnose_output import render_text, to_json, write_plot
from ops.diagnose_report import Concurrency, Database, Observed, Window, build_report
from stacks import metric_catalog as mc
from stacks.aws_facts import (
    CLOUDWATCH_RETENTION_DAYS_BY_PERIOD,
    RDS_ENGINE_AURORA_POSTGRES,
    RDS_ENGINE_POSTGRES,
    RDS_POSTGRES_DEFAULT_MAX_CONNECTIONS,
)
from stacks.budget import BudgetError, default_max_connections

if TYPE_CHECKING:
    from types_boto3_cloudwatch.client import CloudWatchClient
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_rds.client import RDSClient

ENGINES = (RDS_ENGINE_POSTGRES.value, RDS_ENGINE_AURORA_POSTGRES.value)
MAX_DAYS = CLOUDWATCH_RETENTION_DAYS_BY_PERIOD.value[-1][1]
DEFAULT_DAYS = 14
# The IAM action behind each call (docs/operate.md lists them for the policy).
IAM_ACTIONS = {
    "DescribeDBInstances": "rds:DescribeDBInstances",
    "DescribeDBParameters": "rds:DescribeDBParameters",
    "GetAccountSettings": "lambda:GetAccountSettings",
    "GetMetricData": "cloudwatch:GetMetricData",
}
_FORMULA_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class DiagnoseClients:
    """The clients diagnose reads with; tests pass stubbed ones."""

    region: str
    rds: RDSClient
    cloudwatch: CloudWatchClient
    lambda_: LambdaClient


def make_diagnose_clients(region: str | None, profile: str | None) -> DiagnoseClients:
    opened = open_session(region, profile)
    session = opened.session
    return DiagnoseClients(
        region=opened.region,
        rds=session.client("rds", config=BASE_CONFIG),
        cloudwatch=session.client("cloudwatch", config=BASE_CONFIG),
        lambda_=session.client("lambda", config=BASE_CONFIG),
    )


@dataclass(frozen=True)
class Options:
    db: str
    functions: tuple[str, ...]
    days: int
    max_connections: int | None
    admin_headroom: int | None
    json: bool
    plot: Path | None
    plot_note: str
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Instance:
    identifier: str
    engine: str
    engine_version: str
    instance_class: str  # without "db."
    parameter_group: str | None


# --- reads ------------------------------------------------------------------------------------


def not_found(identifier: str, region: str) -> OpsError:
    return OpsError(
        f"no DB instance {identifier!r} in {region}: check the identifier (aws rds "
        "describe-db-instances) or pick its region (--region / AWS_REGION)"
    )


def read_instance(rds: RDSClient, identifier: str, region: str) -> Instance:
    """The instance (its identifier or ARN given); OpsError for another engine."""
    answer = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    if not answer:
        raise not_found(identifier, region)
    found = answer[0]
    identifier = found.get("DBInstanceIdentifier", identifier)
    engine = found.get("Engine", "")
    if engine not in ENGINES:
        raise OpsError(
            f"{identifier} in {region} runs {engine or 'an unknown engine'}, not PostgreSQL: "
            f"diagnose reads RDS for PostgreSQL ({ENGINES[0]}) and Aurora PostgreSQL "
            f"({ENGINES[1]}) instances only"
        )
    groups = found.get("DBParameterGroups", [])
    return Instance(
        identifier=identifier,
        engine=engine,
        engine_version=found.get("EngineVersion", "?"),
        instance_class=found.get("DBInstanceClass", "").removeprefix("db."),
        parameter_group=groups[0].get("DBParameterGroupName") if groups else None,
    )


def read_parameter(rds: RDSClient, group: str, name: str) -> str | None:
    """The value of one parameter of a DB parameter group (pages followed), None when unset."""
    for page in rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName=group):
        for parameter in page["Parameters"]:
            if parameter.get("ParameterName") == name:
                return parameter.get("ParameterValue")
    return None


def _is_default_formula(value: str) -> bool:
    expected = RDS_POSTGRES_DEFAULT_MAX_CONNECTIONS.value
    return _FORMULA_SPACE.sub("", value).lower() == expected.lower()


def _class_default(instance: Instance, where: str) -> tuple[int, str, str]:
    try:
        _, value, source = default_max_connections(instance.instance_class, engine=instance.engine)
    except BudgetError:
        hint = (
            " (Aurora Serverless v2: it follows the cluster's maximum ACU)"
            if instance.instance_class == "serverless"
            else ""
        )
        raise OpsError(
            f"instance class db.{instance.instance_class}{hint} is not in stacks/budget.py's "
            "max_connections table: pass --max-connections N (SHOW max_connections on the "
            "instance gives N)"
        ) from None
    return value, source, f"{where}: the {source} value for db.{instance.instance_class}"


def resolve_max_connections(
    rds: RDSClient, instance: Instance, override: int | None
) -> tuple[int, str, str]:
    """(max_connections, source, detail): --max-connections, the parameter group's number, or
    the class's value from stacks/budget.py when the group holds the default formula."""
    if override is not None:
        return override, "override", "--max-connections"
    group = instance.parameter_group
    value = read_parameter(rds, group, "max_connections") if group else None
    if value is None:
        return _class_default(instance, "not set in the parameter group, class default")
    if value.strip().isdigit():
        return int(value), "parameter-group", f"set to {value.strip()} in parameter group {group}"
    if _is_default_formula(value):
        return _class_default(instance, f"{value} in parameter group {group}")
    raise OpsError(
        f"max_connections in parameter group {group} is {value!r}, a formula diagnose does not "
        "evaluate: pass --max-connections N (SHOW max_connections on the instance gives N)"
    )


def read_account(lambda_: LambdaClient) -> tuple[int, int]:
    limits = lambda_.get_account_settings()["AccountLimit"]
    return limits.get("ConcurrentExecutions", 0), limits.get("UnreservedConcurrentExecutions", 0)


def metric_period(days: int) -> int:
    """The finest period CloudWatch still keeps for a window reaching `days` back."""
    for period, kept_days in CLOUDWATCH_RETENTION_DAYS_BY_PERIOD.value:
        if days <= kept_days:
            return period
    raise OpsError(f"--days {days}: CloudWatch keeps {MAX_DAYS} days at most")


def make_window(now: datetime, days: int) -> Window:
    period = metric_period(days)
    end = datetime.fromtimestamp(now.timestamp() // period * period, UTC)
    return Window(end - timedelta(days=days), end, period)


def metric_specs(db: str, functions: Sequence[str]) -> list[MetricSpec]:
    """DatabaseConnections of the instance; ConcurrentExecutions per function, or the account's."""
    specs = [instance_metric("conn", "DatabaseConnections", db)]
    if functions:
        specs += [
            function_metric(f"fn{i}", "ConcurrentExecutions", name)
            for i, name in enumerate(functions)
        ]
    else:
        # The catalog's account-wide row (no dimension: every function of the Region).
        ref = mc.metric(mc.LAMBDA, "ConcurrentExecutions", {})
        specs.append(MetricSpec("acct", "Lambda ConcurrentExecutions (account)", ref))
    return specs


def read_observed(
    cloudwatch: CloudWatchClient, db: str, functions: Sequence[str], window: Window
) -> Observed:
    series = read_metrics(
        cloudwatch,
        metric_specs(db, functions),
        start=window.start,
        end=window.end,
        period_s=window.period_s,
    )
    per_function = {name: series[f"fn{i}"].points for i, name in enumerate(functions)}
    if functions:
        summed: dict[datetime, float] = {}
        for points in per_function.values():
            for when, value in points.items():
                summed[when] = summed.get(when, 0.0) + value
    else:
        summed = series["acct"].points
    return Observed(series["conn"].points, summed, per_function)


def check_datapoints(observed: Observed, options: Options, region: str) -> list[str]:
    """OpsError when a series the verdict needs is empty; notes for silent named functions."""
    span = f"in the last {options.days} day(s) in {region}"
    if not observed.connections:
        raise OpsError(
            f"no DatabaseConnections datapoints for {options.db} {span}: the instance was "
            "stopped or is new; pass a longer DAYS or check the region"
        )
    silent = [name for name, points in observed.per_function.items() if not points]
    if not observed.concurrency and silent:
        raise OpsError(
            f"no ConcurrentExecutions datapoints for function(s) {', '.join(silent)} {span}: "
            "check the names (aws lambda list-functions) and the region"
        )
    if not observed.concurrency:
        raise OpsError(
            f"no account-wide ConcurrentExecutions datapoints {span}: no function ran there; "
            "pick the region the functions run in or a longer DAYS"
        )
    return [f"{name}: no ConcurrentExecutions datapoints {span}" for name in silent]


# --- the command ------------------------------------------------------------------------------


def diagnose(clients: DiagnoseClients, options: Options) -> int:
    instance = read_instance(clients.rds, options.db, clients.region)
    value, source, detail = resolve_max_connections(clients.rds, instance, options.max_connections)
    database = Database(
        identifier=instance.identifier,
        engine=instance.engine,
        engine_version=instance.engine_version,
        instance_class=instance.instance_class,
        parameter_group=instance.parameter_group,
        max_connections=value,
        max_connections_source=source,
        max_connections_detail=detail,
    )
    limit, unreserved = read_account(clients.lambda_)
    window = make_window(options.now(), options.days)
    observed = read_observed(clients.cloudwatch, instance.identifier, options.functions, window)
    notes = check_datapoints(observed, options, clients.region)
    concurrency = Concurrency(options.functions, limit, unreserved)
    report = build_report(
        database, concurrency, window, observed, headroom_min=options.admin_headroom, notes=notes
    )
    if options.plot is not None:
        try:
            write_plot(report, options.plot, note=options.plot_note)
        except OSError as exc:
            raise OpsError(f"cannot write the plot to {options.plot}: {exc.strerror}") from None
    if options.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print(render_text(report))
        if options.plot is not None:
            print(f"\nplot: {options.plot}")
    return 0


def client_error(exc: ClientError, options: Options, region: str) -> OpsError:
    """One line for a failed call: a denied action names its IAM action, an unknown instance
    says how to find the right one."""
    error = exc.response.get("Error", {})
    code, operation = str(error.get("Code", "")), exc.operation_name
    if code in ACCESS_DENIED:
        action = IAM_ACTIONS.get(operation, operation)
        return OpsError(
            f"{action} was denied ({code}) in {region}: allow it to the identity running "
            "diagnose (docs/operate.md lists the four read-only actions it needs)"
        )
    if code == "DBInstanceNotFound":
        return not_found(options.db, region)
    message = " ".join(str(error.get("Message", "")).split())
    return OpsError(f"{operation} failed in {region}: {code}: {message}")


def guarded_diagnose(options: Options) -> Callable[[DiagnoseClients], int]:
    def body(clients: DiagnoseClients) -> int:
        try:
            return diagnose(clients, options)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in AUTH_ERRORS:
                raise  # ops.aws.aws_errors words these
            raise client_error(exc, options, clients.region) from None

    return body


# --- arguments --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python -m ops.diagnose --help)\n")


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} refused: allowed {low}..{high}")
        return number

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m ops.diagnose", description=__doc__)
    parser.add_argument("--db", required=True, help="DB instance identifier (make: DB=...)")
    parser.add_argument(
        "--functions",
        default="",
        help="comma-separated Lambda function names (make: FUNCTIONS=a,b; default: the account)",
    )
    parser.add_argument(
        "--days", type=_bounded(1, MAX_DAYS), default=DEFAULT_DAYS, help="window (default 14)"
    )
    parser.add_argument(
        "--max-connections",
        type=_bounded(1, 262_143),
        help="use this max_connections (SHOW max_connections) instead of the parameter group's",
    )
    parser.add_argument(
        "--admin-headroom",
        type=_bounded(1, 100_000),
        help="connections to keep outside the proposed pool (default: 10 %%, at least 20)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also write a plot there")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default chain)")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: DiagnoseClients | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    plot_note: str = "",
) -> int:
    args = parse_args(argv)
    db = args.db.strip()
    if not db:
        return fail("no database given: pass DB=<db-instance-identifier> (make) or --db")
    functions = tuple(dict.fromkeys(f.strip() for f in args.functions.split(",") if f.strip()))
    options = Options(
        db, functions, args.days, args.max_connections, args.admin_headroom, args.json,
        args.plot, plot_note, now,
    )  # fmt: skip
    try:
        return run_guarded(
            clients,
            lambda: make_diagnose_clients(args.region, args.profile),
            guarded_diagnose(options),
        )
    except (BotoCoreError, ClientError) as exc:
        return fail(f"AWS call failed: {' '.join(str(exc).split())}")


if __name__ == "__main__":
    sys.exit(main())
