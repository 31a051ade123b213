"""Bounded burst of concurrent invocations, then concurrency vs connections from CloudWatch."""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ops.aws import (
    Clients,
    MetricSpec,
    Outputs,
    Series,
    add_common_arguments,
    function_metric,
    invoke,
    make_clients,
    proxy_metric,
    read_metrics,
    read_outputs,
    run_guarded,
    writer_metric,
)
from ops.cli import fail
from orders import contract

if TYPE_CHECKING:
    from types_boto3_lambda.client import LambdaClient

MAX_COUNT = 2000  # concurrent callers: above the default account concurrency limit is pointless
MAX_DURATION_S = 300
MAX_WAIT_S = 900
# Lambda publishes per-minute metrics 1-3 minutes late.
DEFAULT_WAIT_S = 180
ACTIONS = (contract.LIST_ORDERS_ACTION, contract.CREATE_ORDER_ACTION)


@dataclass
class Tally:
    invocations: int = 0
    ok: int = 0
    function_errors: int = 0
    throttled: int = 0
    failed: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, outcome: str, error: str = "") -> None:
        with self._lock:
            self.invocations += 1
            setattr(self, outcome, getattr(self, outcome) + 1)
            if error:
                self.last_error = error


def _event(action: str, customer_id: str, run_id: str, n: int) -> dict[str, Any]:
    if action == contract.CREATE_ORDER_ACTION:
        return {
            "action": contract.CREATE_ORDER_ACTION,
            "customer_id": customer_id,
            "idempotency_key": f"burst-{run_id}-{n}",
            "items": [{"sku": "BURST-1", "quantity": 1, "unit_price_cents": 100}],
        }
    return {"action": contract.LIST_ORDERS_ACTION, "customer_id": customer_id}


def _invoke_once(lambda_client: LambdaClient, fn: str, event: dict[str, Any], tally: Tally) -> None:
    try:
        result = invoke(lambda_client, fn, event)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "TooManyRequestsException":
            tally.add("throttled")
        else:
            tally.add("failed", code or str(exc))
        return
    except Exception as exc:  # a network error on one call must not end the burst
        tally.add("failed", type(exc).__name__)
        return
    status = result.payload.get("statusCode") if isinstance(result.payload, dict) else None
    if result.function_error is not None:
        tally.add("function_errors", result.function_error)
    elif isinstance(status, int) and status < 300:
        tally.add("ok")
    else:
        tally.add("function_errors", f"statusCode {status}")


def run_burst(
    lambda_client: LambdaClient,
    fn: str,
    *,
    count: int,
    duration_s: float,
    action: str,
    clock: Callable[[], float] = time.monotonic,
) -> Tally:
    """`count` threads invoke `fn` back to back until `duration_s` has passed."""
    tally = Tally()
    customer_id = str(uuid.uuid4())
    run_id = uuid.uuid4().hex[:12]
    deadline = clock() + duration_s
    start = threading.Event()
    counter = iter(range(sys.maxsize))
    counter_lock = threading.Lock()

    def worker() -> None:
        start.wait()
        while clock() < deadline:
            with counter_lock:
                n = next(counter)
            _invoke_once(lambda_client, fn, _event(action, customer_id, run_id, n), tally)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    start.set()  # all callers begin together: that is the burst
    for thread in threads:
        thread.join()
    return tally


def burst_specs(outputs: Outputs) -> list[MetricSpec]:
    """The side-by-side columns, each read with the statistic the catalog gives it."""
    return [
        function_metric("conc", "ConcurrentExecutions", outputs.direct_function),
        proxy_metric("client", "ClientConnections", outputs.proxy_name),
        proxy_metric("dbconn", "DatabaseConnections", outputs.proxy_name),
        writer_metric("instance", "DatabaseConnections", outputs),
    ]


def statistics_note(specs: Sequence[MetricSpec]) -> str:
    """How each column was aggregated; the proxy publishes one data point per node."""
    parts = [f"{spec.label} = {spec.statistic}" for spec in specs]
    return (
        "per minute: " + ", ".join(parts) + " (proxy totals are summed over the proxy's nodes: "
        "RDS Proxy publishes its metrics once per node)"
    )


def print_side_by_side(series: dict[str, Series], order: Sequence[str]) -> None:
    headers = ["minute (UTC)", "ConcurrentExec", "ClientConns", "Proxy DBConns", "DB DBConns"]
    print("  ".join(f"{h:>14}" for h in headers))
    minutes = sorted({t for s in series.values() for t in s.points})
    if not minutes:
        print("  (no datapoints yet: CloudWatch can lag a few minutes; rerun with a longer --wait)")
        return
    for minute in minutes:
        cells = [f"{minute:%H:%M}"] + [
            f"{series[q].points[minute]:g}" if minute in series[q].points else "-" for q in order
        ]
        print("  ".join(f"{c:>14}" for c in cells))
    peaks = {q: series[q].peak() for q in order}
    print(
        "peaks: " + ", ".join(f"{series[q].label} {p:g}" for q, p in peaks.items() if p is not None)
    )
    conc, dbconn = peaks.get("conc"), peaks.get("dbconn")
    if conc and dbconn is not None:
        print(
            f"server connections per concurrent execution: {dbconn / conc:.2f} "
            "(well below 1 means the proxy multiplexes; ~1 means every caller holds a "
            "server connection: look at session pinning)"
        )


def _confirm(prompt: str, ask: Callable[[str], str]) -> bool:
    try:
        return ask(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()  # looked up at call time: tests and shells replace sys.stdin


@dataclass(frozen=True)
class Io:
    """Terminal and time, injectable for tests."""

    is_tty: Callable[[], bool] = _stdin_is_tty
    ask: Callable[[str], str] = input
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def burst(clients: Clients, args: argparse.Namespace, io: Io) -> int:
    outputs = read_outputs(clients.cloudformation, args.env, clients.region)
    fn = outputs.direct_function
    plan = (
        f"{args.count} concurrent callers x {args.duration} s of {args.action} against {fn} "
        f"in {clients.region}"
    )
    if not args.yes and not _confirm(f"Start {plan}? [y/N] ", io.ask):
        print("burst: not started")
        return 1
    print(f"burst: {plan}")
    started = io.now()
    tally = run_burst(
        clients.lambda_,
        fn,
        count=args.count,
        duration_s=args.duration,
        action=args.action,
        clock=io.clock,
    )
    ended = io.now()
    print(
        f"burst: {tally.invocations} invocations in {(ended - started).total_seconds():.0f} s: "
        f"{tally.ok} ok, {tally.throttled} throttled, {tally.function_errors} function errors, "
        f"{tally.failed} failed" + (f" (last: {tally.last_error})" if tally.last_error else "")
    )
    if args.wait:
        print(f"waiting {args.wait} s for CloudWatch to publish the burst's minutes...")
        io.sleep(args.wait)
    start = started.replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = ended.replace(second=0, microsecond=0) + timedelta(minutes=2)
    specs = burst_specs(outputs)
    series = read_metrics(clients.cloudwatch, specs, start=start, end=end)
    print(statistics_note(specs))
    print_side_by_side(series, [s.query_id for s in specs])
    return 0 if tally.ok else 1


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    io: Io | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.burst", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        "--count", type=int, required=True, help=f"concurrent callers (1..{MAX_COUNT})"
    )
    parser.add_argument(
        "--duration", type=int, required=True, help=f"seconds of invoking (1..{MAX_DURATION_S})"
    )
    parser.add_argument("--action", choices=ACTIONS, default=contract.LIST_ORDERS_ACTION)
    parser.add_argument(
        "--wait",
        type=int,
        default=DEFAULT_WAIT_S,
        help=f"seconds to wait for CloudWatch before reading metrics (0..{MAX_WAIT_S})",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    io = io or Io()

    if not 1 <= args.count <= MAX_COUNT:
        return fail(f"--count {args.count} refused: allowed 1..{MAX_COUNT} concurrent callers")
    if not 1 <= args.duration <= MAX_DURATION_S:
        return fail(f"--duration {args.duration} refused: allowed 1..{MAX_DURATION_S} seconds")
    if not 0 <= args.wait <= MAX_WAIT_S:
        return fail(f"--wait {args.wait} refused: allowed 0..{MAX_WAIT_S} seconds")
    if not args.yes and not io.is_tty():
        return fail("refusing to burst without --yes: stdin is not a terminal to confirm on")

    def build() -> Clients:
        return make_clients(
            args.region,
            args.profile,
            max_pool_connections=args.count,
            # one attempt: a throttle is a result to count, not something to retry away
            lambda_attempts=1,
        )

    return run_guarded(clients, build, lambda resolved: burst(resolved, args, io))


if __name__ == "__main__":
    sys.exit(main())
