"""ops.smoke against stubbed CloudFormation, Lambda, CloudWatch and a fake HTTP sender."""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import CredentialResolver
from botocore.session import Session as BotocoreSession

from ops import smoke
from ops.aws import Clients
from ops.smoke import HttpResponse
from orders import contract
from stacks import outputs as out
from tests.ops.alarm_stubs import add_all_found
from tests.ops.aws_stubs import (
    ACCESS_KEY,
    API_URL,
    CONFIG,
    DATA_OUTPUTS,
    DATA_STACK,
    DIRECT_FN,
    ENV,
    MIGRATION_FN,
    PROXY_NAME,
    REGION,
    SERVICE_OUTPUTS,
    SERVICE_STACK,
    JsonPayload,
    Stubbed,
    add_invoke,
    add_stacks,
    metric_result,
    stack_response,
)

pytestmark = pytest.mark.ops

NOW = datetime(2026, 11, 25, 12, 30, 0, tzinfo=UTC)
ORDER_ID = "0b6f2a52-8f0e-4e3c-9a51-2d7c6a1f9e10"


@dataclass
class FakeHttp:
    status: int = 200
    body: Any = None
    requests: list[urllib.request.Request] = field(default_factory=list)

    def __call__(self, request: urllib.request.Request, timeout: float) -> HttpResponse:
        self.requests.append(request)
        customer = request.full_url.rstrip("/").split("/")[-2]
        body = self.body if self.body is not None else {"orders": [order(customer)]}
        return HttpResponse(self.status, json.dumps(body).encode())


def order(customer_id: str) -> dict[str, Any]:
    return {
        "order_id": ORDER_ID,
        "customer_id": customer_id,
        "idempotency_key": f"smoke-{customer_id}",
        "status": "created",
        "items": [{"sku": "SMOKE-1", "quantity": 2, "unit_price_cents": 150}],
        "total_cents": 300,
        "created_at": "2026-11-25T12:29:58.123456+00:00",
    }


def add_migration(stub: Stubbed) -> None:
    add_invoke(
        stub.lambda_,
        MIGRATION_FN,
        {
            # the migration handler's PHYSICAL_ID_PREFIX and the database name
            "PhysicalResourceId": f"orders-schema-{CONFIG.database.database_name}",
            "Data": {"SchemaVersion": "0003", "AppliedMigrations": "none", "RoleChanges": "none"},
        },
        # the schema step: the one the service stack's custom resource runs
        expect=JsonPayload(RequestType="Update", ResourceProperties={"Step": "schema"}),
    )


def add_direct_calls(stub: Stubbed, create_status: int = 201) -> JsonPayload:
    create = JsonPayload(action=contract.CREATE_ORDER_ACTION)
    # Stubber evaluates expected params at call time, so answers cannot depend on the request;
    # the body's customer id is a placeholder and the checks only compare order ids.
    placeholder = order(str(uuid.UUID(int=1)))
    add_invoke(
        stub.lambda_,
        DIRECT_FN,
        {"statusCode": create_status, "replayed": False, "body": placeholder},
        expect=create,
    )
    add_invoke(
        stub.lambda_,
        DIRECT_FN,
        {"statusCode": 200, "body": placeholder},
        expect=JsonPayload(action=contract.GET_ORDER_ACTION, order_id=ORDER_ID),
    )
    add_invoke(
        stub.lambda_,
        DIRECT_FN,
        {"statusCode": 200, "body": {"orders": [placeholder]}},
        expect=JsonPayload(action=contract.LIST_ORDERS_ACTION),
    )
    return create


def add_metrics(stub: Stubbed, values: dict[str, list[float]] | None = None) -> None:
    start = NOW - timedelta(minutes=15)
    names = {
        "client": "ClientConnections",
        "dbconn": "DatabaseConnections",
        "maxdb": "MaxDatabaseConnectionsAllowed",
        "pinned": "DatabaseConnectionsCurrentlySessionPinned",
        "borrow": "DatabaseConnectionsBorrowLatency",
    }
    # per-node counts are summed; the latency is an average over nodes
    stats = {q: "Average" if q == "borrow" else "Sum" for q in names}
    values = (
        values
        if values is not None
        else {
            "client": [0, 3, 1],
            "dbconn": [2, 2, 2],
            "maxdb": [68, 68, 68],
            "pinned": [0, 0, 0],
            "borrow": [41, 38, 52],
        }
    )
    queries = [
        {
            "Id": qid,
            "Label": f"Proxy {name}",
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/RDS",
                    "MetricName": name,
                    "Dimensions": [{"Name": "ProxyName", "Value": PROXY_NAME}],
                },
                "Period": 60,
                "Stat": stats[qid],
            },
        }
        for qid, name in names.items()
    ]
    stub.cloudwatch.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                metric_result(qid, f"Proxy {names[qid]}", NOW - timedelta(minutes=3), v)
                for qid, v in values.items()
            ],
            "Messages": [],
        },
        expected_params={
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": NOW,
            "ScanBy": "TimestampAscending",
        },
    )


def run(stub: Stubbed, http: FakeHttp, *argv: str) -> int:
    return smoke.main(["--env", ENV, *argv], clients=stub.clients, http=http, now=lambda: NOW)


def test_smoke_passes_and_reports_proxy_metrics(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    create = add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)
    http = FakeHttp()

    assert run(stubbed, http) == 0

    stubbed.assert_done()
    out = capsys.readouterr().out
    assert "smoke: all checks passed" in out
    assert "FAIL" not in out
    # the stacks of the environment asked for, as the configuration names them
    assert f"{DATA_STACK} in {REGION}: proxy {PROXY_NAME}.proxy-" in out
    assert f"Alarms of {SERVICE_STACK}: " in out
    assert "schema 0003" in out
    assert f"order {ORDER_ID}" in out
    assert "ClientConnections                          1 at 12:29 UTC" in out
    assert "MaxDatabaseConnectionsAllowed              68 at 12:29 UTC" in out
    assert "DatabaseConnectionsBorrowLatency           52 us at 12:29 UTC" in out
    # then every alarm of the service stack: its metric is listed by CloudWatch
    assert "15 alarm(s): 15 found, 0 not yet published (warning), 0 missing (failure)" in out
    # the create carried a fresh customer id, an idempotency key and a valid item
    assert create.seen is not None
    customer_id = create.seen["customer_id"]
    uuid.UUID(customer_id)
    assert create.seen["idempotency_key"] == f"smoke-{customer_id}"
    assert create.seen["items"] == [{"sku": "SMOKE-1", "quantity": 2, "unit_price_cents": 150}]


def test_smoke_signs_the_api_request_with_sigv4(stubbed: Stubbed) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    create = add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)
    http = FakeHttp()

    run(stubbed, http)

    (request,) = http.requests
    assert create.seen is not None
    assert request.full_url == f"{API_URL}customers/{create.seen['customer_id']}/orders"
    assert request.get_method() == "GET"
    headers = {k.lower(): v for k, v in request.header_items()}
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20")
    assert f"/{REGION}/execute-api/aws4_request" in headers["authorization"]
    assert "x-amz-date" in headers


def test_api_403_fails_with_a_hint(stubbed: Stubbed, capsys: pytest.CaptureFixture[str]) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)
    http = FakeHttp(status=403, body={"message": "Forbidden"})

    assert run(stubbed, http) == 1

    out = capsys.readouterr().out
    assert "FAIL  api GET orders" in out
    assert "execute-api:Invoke" in out
    assert "smoke: 1 check(s) failed" in out


def test_function_error_on_create_skips_dependent_checks(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    add_invoke(
        stubbed.lambda_,
        DIRECT_FN,
        {
            "errorMessage": "Task timed out after 10.01 seconds",
            "errorType": "Sandbox.Timedout",
        },
        function_error="Unhandled",
    )
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)
    http = FakeHttp(body={"orders": []})

    assert run(stubbed, http) == 1

    stubbed.assert_done()  # no get_order / list_orders after a failed create
    out = capsys.readouterr().out
    assert "FAIL  direct create_order" in out
    assert "Task timed out" in out
    assert "ok    api GET orders" in out


def test_migration_failure_is_reported(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_invoke(
        stubbed.lambda_,
        MIGRATION_FN,
        {"errorMessage": "migration failed: OperationalError: timeout", "errorType": "Error"},
        function_error="Unhandled",
    )
    add_direct_calls(stubbed)
    add_metrics(stubbed)
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)

    assert run(stubbed, FakeHttp()) == 1
    out = capsys.readouterr().out
    assert "FAIL  migration function" in out
    assert "Unhandled: " in out


def test_metrics_without_datapoints_say_so(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_migration(stubbed)
    add_direct_calls(stubbed)
    add_metrics(stubbed, {q: [] for q in ("client", "dbconn", "maxdb", "pinned", "borrow")})
    add_all_found(stubbed.cloudformation, stubbed.cloudwatch)

    assert run(stubbed, FakeHttp()) == 0
    assert "no data (no traffic in the window?)" in capsys.readouterr().out


# --- setup errors: exit 2, one line ----------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_stack_is_a_clear_error(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.cloudformation.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {DATA_STACK} does not exist",
        http_status_code=400,
        expected_params={"StackName": DATA_STACK},
    )

    assert run(stubbed, FakeHttp()) == 2

    line = one_line_error(capsys)
    assert f"{DATA_STACK} not found in {REGION}" in line
    assert "--region" in line


def test_missing_output_is_a_clear_error(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    service = {k: v for k, v in SERVICE_OUTPUTS.items() if k != out.API_URL}
    add_stacks(stubbed.cloudformation, service=service)

    assert run(stubbed, FakeHttp()) == 2
    assert f"{SERVICE_STACK} has no output {out.API_URL}" in one_line_error(capsys)


def test_stack_in_failed_state_is_a_clear_error(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.cloudformation.add_response(
        "describe_stacks",
        stack_response(DATA_STACK, DATA_OUTPUTS, status="UPDATE_ROLLBACK_IN_PROGRESS"),
        expected_params={"StackName": DATA_STACK},
    )

    assert run(stubbed, FakeHttp()) == 2
    assert "is UPDATE_ROLLBACK_IN_PROGRESS" in one_line_error(capsys)


def test_expired_credentials_are_a_clear_error(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.cloudformation.add_client_error(
        "describe_stacks",
        service_error_code="ExpiredToken",
        service_message="The security token included in the request is expired",
        http_status_code=403,
    )

    assert run(stubbed, FakeHttp()) == 2
    assert f"AWS rejected the credentials in {REGION}: ExpiredToken" in one_line_error(capsys)


def test_no_credentials_anywhere(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--env", ENV, "--region", REGION]) == 2
    assert "no AWS credentials found" in one_line_error(capsys)


def test_no_region_anywhere(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--env", ENV]) == 2
    assert "no AWS region configured" in one_line_error(capsys)


def test_malformed_region(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--env", ENV, "--region", "eu-westt"]) == 2
    assert "'eu-westt' is not an AWS region name" in one_line_error(capsys)


def test_unknown_profile(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--env", ENV, "--profile", "nope", "--region", REGION]) == 2
    assert "AWS profile not found" in one_line_error(capsys)


def _clients_without_credentials(endpoint_url: str | None = None) -> Clients:
    core = BotocoreSession()
    core.register_component("credential_provider", CredentialResolver(providers=[]))
    session = boto3.Session(botocore_session=core, region_name=REGION)
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    return Clients(
        region=REGION,
        cloudformation=session.client("cloudformation", **kwargs),
        lambda_=session.client("lambda"),
        cloudwatch=session.client("cloudwatch"),
    )


def test_no_credentials_error_from_a_call(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """botocore raises NoCredentialsError while signing, before anything is sent."""
    clients = _clients_without_credentials()
    assert smoke.main(["--env", ENV], clients=clients, http=FakeHttp()) == 2
    assert "no usable AWS credentials" in one_line_error(capsys)


def test_unreachable_endpoint_suggests_wrong_region(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key="x", region_name=REGION
    )
    # port 9 (discard) on loopback: refused at once, nothing leaves the machine
    cfn = session.client(
        "cloudformation",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    clients = Clients(
        region=REGION,
        cloudformation=cfn,
        lambda_=session.client("lambda"),
        cloudwatch=session.client("cloudwatch"),
    )
    assert smoke.main(["--env", ENV], clients=clients, http=FakeHttp()) == 2
    assert "wrong region" in one_line_error(capsys)


def test_non_https_api_url_is_refused(stubbed: Stubbed, capsys: pytest.CaptureFixture[str]) -> None:
    add_stacks(stubbed.cloudformation, service={**SERVICE_OUTPUTS, out.API_URL: "http://x.test/"})
    add_migration(stubbed)
    add_direct_calls(stubbed)

    assert run(stubbed, FakeHttp()) == 2
    assert "non-https" in one_line_error(capsys)
