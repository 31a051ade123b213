"""Post-deploy smoke test: invoke each function and the HTTP API once, show proxy metrics, then
check that every alarm of the service stack watches a metric CloudWatch has."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from ops import alarm_metrics, cluster_checks
from ops.alarm_metrics import Expectations
from ops.aws import (
    ACCESS_DENIED,
    Clients,
    MetricSpec,
    OpsError,
    Outputs,
    add_common_arguments,
    invoke,
    make_clients,
    proxy_metric,
    read_metrics,
    read_outputs,
    run_guarded,
    stack_names,
)
from orders import contract
from stacks import metric_catalog as mc
from stacks.config import AppConfig
from stacks.loader import load
from stacks.outputs import CLUSTER_READ_ACTIONS

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

HTTP_TIMEOUT_S = 30.0
METRIC_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


HttpSend = Callable[[urllib.request.Request, float], HttpResponse]


def urllib_send(request: urllib.request.Request, timeout: float) -> HttpResponse:
    """Send with urllib; HTTP error statuses are answers, not exceptions."""
    if not request.full_url.startswith("https://"):
        raise OpsError(f"refusing to call a non-https API URL: {request.full_url}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # https only
            return HttpResponse(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return HttpResponse(exc.code, exc.read())
    except urllib.error.URLError as exc:
        raise OpsError(f"cannot reach {request.full_url}: {exc.reason}") from None


def signed_request(
    method: str, url: str, credentials: ReadOnlyCredentials, region: str
) -> urllib.request.Request:
    """A urllib request signed with SigV4 for API Gateway (the API uses IAM authorization)."""
    if not url.startswith("https://"):
        raise OpsError(f"refusing to call a non-https API URL: {url}")
    aws_request = AWSRequest(method=method, url=url, headers={"accept": "application/json"})
    SigV4Auth(credentials, "execute-api", region).add_auth(aws_request)
    headers = dict(aws_request.headers.items())
    return urllib.request.Request(url, method=method, headers=headers)  # noqa: S310  # https only


@dataclass
class Report:
    failures: int = 0
    warnings: int = 0

    def check(self, name: str, ok: bool, detail: str, fix: str = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'}  {name:<22} {detail}")
        if not ok:
            self.failures += 1
            if fix:
                print(f"{'':<29}fix: {fix}")
        return ok


def _body(payload: Any) -> Any:
    """Direct results carry body as an object; API results as a JSON string."""
    body = payload.get("body") if isinstance(payload, dict) else None
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_cluster(clients: Clients, outputs: Outputs, config: AppConfig, report: Report) -> None:
    """Aurora: the cluster, its members by role, the proxy's targets per role and the
    read-only endpoint (ops/cluster_checks.py)."""
    if clients.rds is None:
        raise OpsError("no RDS client to read the cluster with")
    try:
        rows = cluster_checks.cluster_rows(clients.rds, outputs, config)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ACCESS_DENIED:
            raise
        print(
            f"warn  {'aurora cluster':<22} not checked: {exc.operation_name} was denied ({code}); "
            f"the identity needs {', '.join(CLUSTER_READ_ACTIONS)}"
        )
        report.warnings += 1
        return
    for row in rows:
        report.check(row.name, row.ok, row.detail, row.fix)


def check_endpoints(clients: Clients, outputs: Outputs, env: str, report: Report) -> None:
    """Aurora with a read-only endpoint: the direct function asks the default and the read-only
    proxy endpoint itself, with no fallback (they are VPC-only; smoke cannot connect to them),
    and says whether a replica answered (ops/cluster_checks.endpoint_rows)."""
    result = invoke(
        clients.lambda_, outputs.direct_function, {"action": contract.CHECK_ENDPOINTS_ACTION}
    )
    status = result.payload.get("statusCode") if isinstance(result.payload, dict) else None
    body = _body(result.payload)
    if result.function_error is not None or status != 200 or not isinstance(body, dict):
        report.check(
            "endpoint check",
            False,
            f"{result.function_error or f'status {status}'}: {_short(result.payload)}",
            f"the direct function must know the action {contract.CHECK_ENDPOINTS_ACTION}: "
            f"make deploy ENV={env}",
        )
        return
    for row in cluster_checks.endpoint_rows(body, env):
        report.check(row.name, row.ok, row.detail, row.fix)


def check_migration(clients: Clients, outputs: Outputs, report: Report) -> None:
    # The migration function is the schema custom resource's onEvent handler; an Update is the
    # idempotent "apply what is pending" a deploy runs (normally nothing).
    result = invoke(
        clients.lambda_,
        outputs.migration_function,
        {
            "RequestType": "Update",
            "ResourceProperties": {contract.MIGRATION_STEP_PROPERTY: contract.SCHEMA_STEP},
            "OldResourceProperties": {},
        },
    )
    data = result.payload.get("Data") if isinstance(result.payload, dict) else None
    ok = result.function_error is None and isinstance(data, dict) and "SchemaVersion" in data
    detail = (
        f"schema {data['SchemaVersion']}, applied now: {data.get('AppliedMigrations', '?')}"
        if ok and isinstance(data, dict)
        else f"{result.function_error or 'unexpected answer'}: {_short(result.payload)}"
    )
    report.check("migration function", ok, detail)


def check_orders(
    clients: Clients, outputs: Outputs, report: Report, customer_id: str
) -> str | None:
    """create, get and list through the direct-invoke function; returns the new order id."""
    fn = outputs.direct_function
    created = invoke(
        clients.lambda_,
        fn,
        {
            "action": contract.CREATE_ORDER_ACTION,
            "customer_id": customer_id,
            "idempotency_key": f"smoke-{customer_id}",
            "items": [{"sku": "SMOKE-1", "quantity": 2, "unit_price_cents": 150}],
        },
    )
    status = created.payload.get("statusCode") if isinstance(created.payload, dict) else None
    order = _body(created.payload)
    order_id = order.get("order_id") if isinstance(order, dict) else None
    if not report.check(
        f"direct {contract.CREATE_ORDER_ACTION}",
        created.function_error is None and status == 201 and isinstance(order_id, str),
        f"status {status}, order {order_id}"
        if isinstance(order_id, str)
        else f"status {status}: {_short(created.payload)}",
    ):
        return None
    assert isinstance(order_id, str)  # noqa: S101  # narrowed by the check above

    fetched = invoke(
        clients.lambda_, fn, {"action": contract.GET_ORDER_ACTION, "order_id": order_id}
    )
    got = _body(fetched.payload)
    ok = (
        fetched.function_error is None
        and isinstance(got, dict)
        and got.get("order_id") == order_id
        and got.get("total_cents") == 300
    )
    report.check(
        f"direct {contract.GET_ORDER_ACTION}",
        ok,
        f"order {order_id}, total_cents 300" if ok else _short(fetched.payload),
    )

    listed = invoke(
        clients.lambda_, fn, {"action": contract.LIST_ORDERS_ACTION, "customer_id": customer_id}
    )
    orders = _body(listed.payload)
    ids = (
        [o.get("order_id") for o in orders.get("orders", []) if isinstance(o, dict)]
        if isinstance(orders, dict)
        else []
    )
    report.check(
        f"direct {contract.LIST_ORDERS_ACTION}",
        listed.function_error is None and order_id in ids,
        f"{len(ids)} order(s) for customer {customer_id}",
    )
    return order_id


def check_api(
    clients: Clients,
    outputs: Outputs,
    report: Report,
    *,
    customer_id: str,
    order_id: str | None,
    http: HttpSend,
) -> bool:
    """GET the new customer's orders through the API; True when it answered 200 with them."""
    if clients.credentials is None:
        raise OpsError("no AWS credentials to sign the API request with")
    url = f"{outputs.api_url.rstrip('/')}/customers/{customer_id}/orders"
    response = http(signed_request("GET", url, clients.credentials, clients.region), HTTP_TIMEOUT_S)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = response.body.decode(errors="replace")
    ids = (
        [o.get("order_id") for o in body.get("orders", []) if isinstance(o, dict)]
        if isinstance(body, dict)
        else []
    )
    ok = response.status == 200 and (order_id is None or order_id in ids)
    hint = " (403: does your identity have execute-api:Invoke on the API?)" * (
        response.status == 403
    )
    return report.check(
        "api GET orders",
        ok,
        f"HTTP {response.status}, {len(ids)} order(s) via {outputs.api_function}{hint}"
        if ok
        else f"HTTP {response.status}{hint}: {_short(body)}",
    )


PROXY_METRICS = (
    ("client", "ClientConnections"),
    ("dbconn", "DatabaseConnections"),
    ("maxdb", "MaxDatabaseConnectionsAllowed"),
    ("pinned", "DatabaseConnectionsCurrentlySessionPinned"),
    ("borrow", "DatabaseConnectionsBorrowLatency"),
)


def metric_specs(outputs: Outputs) -> list[MetricSpec]:
    """The proxy metrics smoke prints, each with the statistic the catalog gives it."""
    return [proxy_metric(qid, name, outputs.proxy_name) for qid, name in PROXY_METRICS]


def print_metrics(clients: Clients, outputs: Outputs, now: datetime) -> None:
    specs = metric_specs(outputs)
    series = read_metrics(clients.cloudwatch, specs, start=now - METRIC_WINDOW, end=now)
    print(
        f"\nProxy {outputs.proxy_name}: latest 1-minute value in the last 15 minutes "
        "(counts summed over the proxy's nodes, latency averaged)"
    )
    for spec in specs:
        qid, name = spec.query_id, spec.name
        latest = series[qid].latest()
        unit = " us" if spec.ref.fact.unit == "Microseconds" else ""
        value = (
            f"{latest[1]:g}{unit} at {latest[0]:%H:%M} UTC"
            if latest
            else "no data (no traffic in the window?)"
        )
        print(f"  {name:<42} {value}")


def traffic_events(order_id: str | None, api_ok: bool) -> frozenset[str]:
    """The catalog's publishing events this run's traffic caused (mc.AFTER_*): every function
    was invoked; a created order or an API answer went through the proxy to the database."""
    events = {mc.AFTER_INVOCATION}
    if order_id is not None or api_ok:
        events.add(mc.AFTER_PROXY_CONNECTION)
    if api_ok:
        events.add(mc.AFTER_API_REQUEST)
    return frozenset(events)


@dataclass(frozen=True)
class Options:
    env: str | None
    wait_metrics_s: int
    http: HttpSend
    now: Callable[[], datetime]
    sleep: Callable[[float], None]


def smoke(clients: Clients, options: Options) -> int:
    env = options.env
    config = load(env)
    outputs = read_outputs(clients.cloudformation, env, clients.region)
    data_stack, service_stack = stack_names(env)
    print(f"{data_stack} in {clients.region}: proxy {outputs.proxy_endpoint}")
    report = Report()
    if outputs.db_cluster_identifier is not None:
        check_cluster(clients, outputs, config, report)
    customer_id = str(uuid.uuid4())
    check_migration(clients, outputs, report)
    if outputs.proxy_read_only_endpoint is not None:
        check_endpoints(clients, outputs, config.env_name, report)
    order_id = check_orders(clients, outputs, report, customer_id)
    api_ok = check_api(
        clients, outputs, report, customer_id=customer_id, order_id=order_id, http=options.http
    )
    print_metrics(clients, outputs, options.now())
    expect = Expectations(config.project.metrics_namespace, traffic_events(order_id, api_ok))
    alarms = alarm_metrics.check_alarm_metrics(
        clients.cloudformation,
        clients.cloudwatch,
        service_stack,
        expect,
        wait_s=options.wait_metrics_s,
        sleep=options.sleep,
    )
    report.failures += alarms.failures
    report.warnings += alarms.warnings
    warned = f" ({report.warnings} warning(s))" if report.warnings else ""
    if report.failures:
        print(f"\nsmoke: {report.failures} check(s) failed{warned}")
        return 1
    print(f"\nsmoke: all checks passed{warned}")
    return 0


def wait_seconds(value: str) -> int:
    seconds = int(value)
    if not 0 <= seconds <= alarm_metrics.MAX_WAIT_S:
        raise argparse.ArgumentTypeError(
            f"{seconds} refused: allowed 0..{alarm_metrics.MAX_WAIT_S} seconds"
        )
    return seconds


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    http: HttpSend = urllib_send,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        "--wait-metrics",
        type=wait_seconds,
        default=alarm_metrics.DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long to keep asking CloudWatch for alarm metrics that should exist after the "
        "smoke traffic but are not listed yet (ListMetrics is eventually consistent; "
        f"default {alarm_metrics.DEFAULT_WAIT_S}, at most {alarm_metrics.MAX_WAIT_S})",
    )
    args = parser.parse_args(argv)
    options = Options(args.env, args.wait_metrics, http, now, sleep)

    return run_guarded(
        clients,
        lambda: make_clients(args.region, args.profile),
        lambda resolved: smoke(resolved, options),
    )


if __name__ == "__main__":
    sys.exit(main())
