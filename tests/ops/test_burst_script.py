"""ops.burst: caps, confirmation, a stubbed burst and the side-by-side CloudWatch report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ops import burst
from ops.burst import Io
from orders import contract
from tests.ops.aws_stubs import (
    DATA_STACK,
    DB_ID,
    DIRECT_FN,
    ENV,
    PROXY_NAME,
    REGION,
    FakeClock,
    JsonPayload,
    Stubbed,
    add_invoke,
    add_stacks,
    metric_result,
)

pytestmark = pytest.mark.ops

STARTED = datetime(2026, 11, 25, 12, 3, 20, tzinfo=UTC)
ENDED = datetime(2026, 11, 25, 12, 3, 50, tzinfo=UTC)
WINDOW_START = datetime(2026, 11, 25, 12, 2, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 25, 12, 5, tzinfo=UTC)


@dataclass
class FakeIo:
    """Terminal and clocks for burst.main; records what the script asked and slept."""

    tty: bool = True
    answer: str | None = "y"
    allowed_invocations: int = 0
    prompts: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def io(self) -> Io:
        times = iter([STARTED, ENDED])
        return Io(
            is_tty=lambda: self.tty,
            ask=self._ask,
            sleep=self.sleeps.append,
            clock=FakeClock(self.allowed_invocations),
            now=lambda: next(times),
        )

    def _ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.answer is None:
            raise EOFError
        return self.answer


def add_burst_metrics(stub: Stubbed) -> None:
    minute = WINDOW_START
    # Proxy connection counts are summed over the proxy's nodes (one data point per node).
    specs = [
        ("conc", "Lambda ConcurrentExecutions", "AWS/Lambda", "ConcurrentExecutions",
         "FunctionName", DIRECT_FN, "Maximum", [0, 3, 2]),
        ("client", "Proxy ClientConnections", "AWS/RDS", "ClientConnections",
         "ProxyName", PROXY_NAME, "Sum", [0, 3, 2]),
        ("dbconn", "Proxy DatabaseConnections", "AWS/RDS", "DatabaseConnections",
         "ProxyName", PROXY_NAME, "Sum", [2, 2, 2]),
        ("instance", "DB DatabaseConnections", "AWS/RDS", "DatabaseConnections",
         "DBInstanceIdentifier", DB_ID, "Maximum", [4, 4]),
    ]  # fmt: skip
    stub.cloudwatch.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                metric_result(qid, label, minute, values) for qid, label, *_, values in specs
            ],
            "Messages": [],
        },
        expected_params={
            "MetricDataQueries": [
                {
                    "Id": qid,
                    "Label": label,
                    "ReturnData": True,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": namespace,
                            "MetricName": name,
                            "Dimensions": [{"Name": dim, "Value": value}],
                        },
                        "Period": 60,
                        "Stat": stat,
                    },
                }
                for qid, label, namespace, name, dim, value, stat, _ in specs
            ],
            "StartTime": WINDOW_START,
            "EndTime": WINDOW_END,
            "ScanBy": "TimestampAscending",
        },
    )


def ok_list() -> dict[str, Any]:
    return {"statusCode": 200, "body": {"orders": []}}


def run(stub: Stubbed | None, fake: FakeIo, *argv: str) -> int:
    return burst.main(["--env", ENV, *argv], clients=stub.clients if stub else None, io=fake.io())


# --- caps and confirmation: refused before any AWS call ------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "2001", "--duration", "10"], "--count 2001 refused: allowed 1..2000"),
        (["--count", "0", "--duration", "10"], "--count 0 refused"),
        (["--count", "10", "--duration", "301"], "--duration 301 refused: allowed 1..300"),
        (["--count", "10", "--duration", "0"], "--duration 0 refused"),
        (["--count", "10", "--duration", "10", "--wait", "901"], "--wait 901 refused"),
    ],
)
def test_caps_are_refused(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(stubbed, FakeIo(), *argv, "--yes") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {err.removeprefix('error: ')}"
    assert message in err
    assert "\n" not in err
    stubbed.assert_done()  # the Stubbers raise on any unexpected call


def test_no_tty_without_yes_is_refused(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeIo(tty=False)
    assert run(stubbed, fake, "--count", "5", "--duration", "10") == 2
    assert "refusing to burst without --yes: stdin is not a terminal" in capsys.readouterr().err
    assert fake.prompts == []


@pytest.mark.parametrize("answer", ["n", "", "nope", None])
def test_declined_prompt_starts_nothing(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str], answer: str | None
) -> None:
    add_stacks(stubbed.cloudformation)
    fake = FakeIo(answer=answer)

    assert run(stubbed, fake, "--count", "5", "--duration", "10") == 1

    (prompt,) = fake.prompts
    assert f"5 concurrent callers x 10 s of list_orders against {DIRECT_FN}" in prompt
    assert prompt.endswith("[y/N] ")
    assert "burst: not started" in capsys.readouterr().out
    stubbed.assert_done()  # no invoke, no metrics


def test_confirmed_prompt_runs_the_burst(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    for _ in range(2):
        add_invoke(
            stubbed.lambda_,
            DIRECT_FN,
            ok_list(),
            expect=JsonPayload(action=contract.LIST_ORDERS_ACTION),
        )
    add_burst_metrics(stubbed)
    fake = FakeIo(answer="y", allowed_invocations=2)

    assert run(stubbed, fake, "--count", "2", "--duration", "10", "--wait", "0") == 0

    assert len(fake.prompts) == 1
    assert fake.sleeps == []
    stubbed.assert_done()


# --- the burst and the report ----------------------------------------------------------------


def test_burst_with_yes_invokes_concurrently_and_prints_side_by_side(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    payloads = [JsonPayload(action=contract.LIST_ORDERS_ACTION) for _ in range(7)]
    for expect in payloads:
        add_invoke(stubbed.lambda_, DIRECT_FN, ok_list(), expect=expect)
    add_burst_metrics(stubbed)
    fake = FakeIo(tty=False, allowed_invocations=7)

    assert run(stubbed, fake, "--count", "3", "--duration", "30", "--yes", "--wait", "120") == 0

    stubbed.assert_done()
    assert fake.prompts == []
    assert fake.sleeps == [120]
    # every caller asked about the same throwaway customer
    customers = {p.seen["customer_id"] for p in payloads if p.seen is not None}
    assert len(customers) == 1
    out = capsys.readouterr().out
    assert "burst: 7 invocations in 30 s: 7 ok, 0 throttled, 0 function errors, 0 failed" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "minute (UTC)" in line)
    assert lines[header].split() == [
        "minute", "(UTC)", "ConcurrentExec", "ClientConns", "Proxy", "DBConns", "DB", "DBConns"
    ]  # fmt: skip
    assert lines[header + 1].split() == ["12:02", "0", "0", "2", "4"]
    assert lines[header + 2].split() == ["12:03", "3", "3", "2", "4"]
    assert lines[header + 3].split() == ["12:04", "2", "2", "2", "-"]
    assert "peaks: Lambda ConcurrentExecutions 3, Proxy ClientConnections 3" in out
    assert "server connections per concurrent execution: 0.67" in out
    assert "Proxy DatabaseConnections = Sum" in out
    assert "summed over the proxy's nodes" in out


def test_throttles_and_function_errors_are_counted_not_fatal(
    stubbed: Stubbed, capsys: pytest.CaptureFixture[str]
) -> None:
    add_stacks(stubbed.cloudformation)
    add_invoke(stubbed.lambda_, DIRECT_FN, ok_list())
    stubbed.lambda_.add_client_error(
        "invoke",
        service_error_code="TooManyRequestsException",
        service_message="Rate Exceeded.",
        http_status_code=429,
    )
    add_invoke(
        stubbed.lambda_,
        DIRECT_FN,
        {"errorMessage": "Task timed out after 10.01 seconds", "errorType": "Sandbox.Timedout"},
        function_error="Unhandled",
    )
    add_invoke(
        stubbed.lambda_,
        DIRECT_FN,
        {"statusCode": 500, "body": {"error": {"code": "InternalError", "message": "x"}}},
    )
    add_burst_metrics(stubbed)
    fake = FakeIo(allowed_invocations=4)

    assert run(stubbed, fake, "--count", "2", "--duration", "5", "--yes", "--wait", "0") == 0

    out = capsys.readouterr().out
    assert "4 invocations in 30 s: 1 ok, 1 throttled, 2 function errors, 0 failed" in out


def test_create_order_burst_uses_a_fresh_idempotency_key_per_call(stubbed: Stubbed) -> None:
    add_stacks(stubbed.cloudformation)
    payloads = [JsonPayload(action=contract.CREATE_ORDER_ACTION) for _ in range(3)]
    for expect in payloads:
        add_invoke(stubbed.lambda_, DIRECT_FN, {"statusCode": 201, "body": {}}, expect=expect)
    add_burst_metrics(stubbed)
    fake = FakeIo(allowed_invocations=3)

    args = [
        "--count",
        "3",
        "--duration",
        "5",
        "--action",
        contract.CREATE_ORDER_ACTION,
        "--yes",
        "--wait",
        "0",
    ]
    assert run(stubbed, fake, *args) == 0

    seen = [p.seen for p in payloads if p.seen is not None]
    assert len({s["idempotency_key"] for s in seen}) == 3
    assert all(
        s["items"] == [{"sku": "BURST-1", "quantity": 1, "unit_price_cents": 100}] for s in seen
    )


def test_no_successful_invocation_exits_1(stubbed: Stubbed) -> None:
    add_stacks(stubbed.cloudformation)
    stubbed.lambda_.add_client_error(
        "invoke",
        service_error_code="ResourceNotFoundException",
        service_message=f"Function not found: {DIRECT_FN}",
        http_status_code=404,
    )
    add_burst_metrics(stubbed)

    assert run(stubbed, FakeIo(allowed_invocations=1), "--count", "1", "--duration", "1",
               "--yes", "--wait", "0") == 1  # fmt: skip


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
    assert run(stubbed, FakeIo(), "--count", "5", "--duration", "5", "--yes") == 2
    assert f"{DATA_STACK} not found in {REGION}" in capsys.readouterr().err


def test_no_credentials_is_a_clear_error(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--count", "5", "--duration", "5", "--yes", "--region", REGION]
    assert run(None, FakeIo(), *args) == 2
    assert "no AWS credentials found" in capsys.readouterr().err
