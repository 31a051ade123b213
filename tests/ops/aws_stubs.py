"""Realistic AWS responses, payload matchers and a fake clock for the ops script tests."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.response import StreamingBody
from botocore.stub import Stubber

from ops.aws import Clients
from stacks import outputs as out
from stacks.config import AppConfig
from stacks.loader import load
from tests.fixture_config import fixture_context

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"

# What the scripts load (tests/ops/conftest.py gives them the fixture configuration): its
# default environment, stack names, metrics namespace and service name. Nothing here comes from
# cdk.json, which a fork renames and retunes.
CONFIG = load(None, fixture_context())
ENV = CONFIG.env_name
DATA_STACK = CONFIG.data_stack_name
SERVICE_STACK = CONFIG.service_stack_name
SERVICE_NAMESPACE = CONFIG.project.metrics_namespace
SERVICE_NAME = CONFIG.project.service_name

# Physical names as AWS generates them from the stack and logical ids (cdk.out templates):
# RDS lower-cases them; CloudFormation names a resource <stack>-<logical id>-<random suffix>.
PROXY_NAME = f"{DATA_STACK.replace('-', '')}Proxy538AF1B0".lower()
DB_ID = f"{DATA_STACK}-DatabaseB269D8BB-abc123def456".lower()
DIRECT_FN = f"{SERVICE_STACK}-FunctionsDirect5CF5CD0F-AbCdEf123456"
API_FN = f"{SERVICE_STACK}-FunctionsApi45DE0CE2-BcDeFg234567"
MIGRATION_FN = f"{SERVICE_STACK}-MigrationFunction6E05CD6E-CdEfGh345678"
ALARM_TOPIC_ARN = (
    f"arn:aws:sns:{REGION}:{ACCOUNT}:{SERVICE_STACK}-MonitoringAlarmTopicAF62D4F1-Xy12"
)
API_URL = f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com/"


@dataclass
class Stubbed:
    clients: Clients
    cloudformation: Stubber
    lambda_: Stubber
    cloudwatch: Stubber
    rds: Stubber

    def assert_done(self) -> None:
        for stub in (self.cloudformation, self.lambda_, self.cloudwatch, self.rds):
            stub.assert_no_pending_responses()


# --- realistic responses ---------------------------------------------------------------------


def stack_response(
    name: str, outputs: Mapping[str, str], status: str = "UPDATE_COMPLETE"
) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": (
                    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/"
                    "5f0e8a40-ca7a-11f0-9d3b-0a1b2c3d4e5f"
                ),
                "StackName": name,
                "CreationTime": datetime(2026, 11, 20, 9, 12, 3, tzinfo=UTC),
                "LastUpdatedTime": datetime(2026, 11, 25, 8, 1, 44, tzinfo=UTC),
                "StackStatus": status,
                "DisableRollback": False,
                "Capabilities": ["CAPABILITY_IAM"],
                "Tags": [],
                "EnableTerminationProtection": False,
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


DATA_OUTPUTS = {
    out.PROXY_ENDPOINT: f"{PROXY_NAME}.proxy-c1x2y3z4w5v6.{REGION}.rds.amazonaws.com",
    out.PROXY_NAME: PROXY_NAME,
    out.DB_INSTANCE_IDENTIFIER: DB_ID,
    out.MIGRATION_FUNCTION_NAME: MIGRATION_FN,
}
SERVICE_OUTPUTS = {
    out.API_URL: API_URL,
    out.DIRECT_FUNCTION_NAME: DIRECT_FN,
    out.API_FUNCTION_NAME: API_FN,
    out.ALARM_TOPIC_ARN: ALARM_TOPIC_ARN,
    out.DASHBOARD_URL: f"https://{REGION}.console.aws.amazon.com/cloudwatch/home",
}


def add_stacks(
    stub: Stubber,
    config: AppConfig = CONFIG,
    data: Mapping[str, str] = DATA_OUTPUTS,
    service: Mapping[str, str] = SERVICE_OUTPUTS,
) -> None:
    """DescribeStacks of `config`'s data then service stack, as the scripts read them."""
    for name, outputs in ((config.data_stack_name, data), (config.service_stack_name, service)):
        stub.add_response(
            "describe_stacks", stack_response(name, outputs), expected_params={"StackName": name}
        )


class JsonPayload:
    """Matches an invoke Payload (bytes) whose JSON has at least these key/values."""

    def __init__(self, **subset: Any) -> None:
        self.subset = subset
        self.seen: dict[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, bytes | str):
            return False
        value = json.loads(other)
        self.seen = value
        return all(value.get(k) == v for k, v in self.subset.items())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"JsonPayload({self.subset!r})"


def invoke_response(payload: Any, function_error: str | None = None) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    response: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": StreamingBody(io.BytesIO(raw), len(raw)),
    }
    if function_error is not None:
        response["FunctionError"] = function_error
    return response


def add_invoke(
    stub: Stubber,
    function_name: str,
    payload: Any,
    *,
    expect: JsonPayload | None = None,
    function_error: str | None = None,
) -> None:
    stub.add_response(
        "invoke",
        invoke_response(payload, function_error),
        expected_params={
            "FunctionName": function_name,
            "InvocationType": "RequestResponse",
            "Payload": expect if expect is not None else JsonPayload(),
        },
    )


def metric_result(
    query_id: str, label: str, start: datetime, values: Sequence[float]
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": label,
        "Timestamps": [start + timedelta(minutes=i) for i in range(len(values))],
        "Values": list(values),
        "StatusCode": "Complete",
    }


class FakeClock:
    """monotonic() stand-in: the first call fixes the start, then `allowed` calls see time 0.

    Every burst worker reads the clock once before each invocation, so exactly `allowed`
    invocations happen, whatever the thread interleaving.
    """

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.calls += 1
            return 0.0 if self.calls <= self.allowed + 1 else 1e9
