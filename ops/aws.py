"""Shared plumbing for the ops scripts: clients, stack outputs, invocations, metrics, errors."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from stacks.loader import environment_names, load

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials
    from types_boto3_cloudformation.client import CloudFormationClient
    from types_boto3_cloudwatch.client import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef
    from types_boto3_lambda.client import LambdaClient

DATA_OUTPUTS = ("ProxyEndpoint", "ProxyName", "DbInstanceIdentifier")
SERVICE_OUTPUTS = (
    "ApiUrl",
    "OrdersFunctionName",
    "OrdersApiFunctionName",
    "MigrationFunctionName",
)
# Stack states whose outputs describe what is deployed.
_USABLE_STATES = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_AUTH_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}


class OpsError(Exception):
    """A setup problem the user can fix; printed as one line, exit code 2."""


def stack_names(env: str | None) -> tuple[str, str]:
    """(data stack, service stack) as app.py names them (default: project.default_env)."""
    config = load(env)
    return config.data_stack_name, config.service_stack_name


@dataclass(frozen=True)
class Clients:
    """The AWS clients a script uses; tests pass stubbed ones."""

    region: str
    cloudformation: CloudFormationClient
    lambda_: LambdaClient
    cloudwatch: CloudWatchClient
    credentials: ReadOnlyCredentials | None = None


def make_clients(
    region: str | None,
    profile: str | None,
    *,
    max_pool_connections: int = 10,
    lambda_attempts: int = 3,
    read_timeout_s: int = 70,
) -> Clients:
    """Clients for the default credential chain; raise OpsError for what the user must fix."""
    try:
        session = boto3.Session(region_name=region, profile_name=profile)
    except ProfileNotFound as exc:
        raise OpsError(f"AWS profile not found: {exc}") from None
    resolved = session.region_name
    if not resolved:
        raise OpsError("no AWS region configured: pass --region or set AWS_REGION")
    if not _REGION.match(resolved):
        raise OpsError(f"{resolved!r} is not an AWS region name (expected e.g. eu-west-1)")
    credentials = session.get_credentials()
    if credentials is None:
        raise OpsError(
            "no AWS credentials found: configure a profile (aws configure / aws sso login), "
            "pass --profile or set AWS_PROFILE"
        )
    base = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard"})
    invoke = Config(
        connect_timeout=5,
        read_timeout=read_timeout_s,
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": lambda_attempts},
    )
    return Clients(
        region=resolved,
        cloudformation=session.client("cloudformation", config=base),
        lambda_=session.client("lambda", config=invoke),
        cloudwatch=session.client("cloudwatch", config=base),
        credentials=credentials.get_frozen_credentials(),
    )


@contextmanager
def aws_errors(region: str | None) -> Iterator[None]:
    """Turn the credential, region and auth failures of any AWS call into OpsError."""
    where = f" in {region}" if region else ""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise OpsError(
            f"no usable AWS credentials ({exc}): configure a profile or set AWS_PROFILE"
        ) from None
    except NoRegionError:
        raise OpsError("no AWS region configured: pass --region or set AWS_REGION") from None
    except EndpointConnectionError as exc:
        raise OpsError(
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}: "
            f"wrong region{where} or no network"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _AUTH_ERRORS:
            message = exc.response.get("Error", {}).get("Message", code)
            raise OpsError(f"AWS rejected the credentials{where}: {code}: {message}") from None
        raise


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        choices=environment_names(),
        help="deployed environment (default: cdk.json project.default_env)",
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default chain)")


@dataclass(frozen=True)
class Outputs:
    """The stack outputs the scripts rely on (names fixed by the stacks)."""

    proxy_endpoint: str
    proxy_name: str
    db_instance_identifier: str
    api_url: str
    orders_function: str
    orders_api_function: str
    migration_function: str


def _stack_outputs(cfn: CloudFormationClient, name: str, region: str) -> dict[str, str]:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise OpsError(
                f"stack {name} not found in {region}: deploy it (make deploy) "
                "or pick the region it lives in (--region / AWS_REGION)"
            ) from None
        raise
    stack = stacks[0]
    status = stack["StackStatus"]
    if status not in _USABLE_STATES:
        raise OpsError(f"stack {name} in {region} is {status}: wait for or fix the deployment")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def read_outputs(cfn: CloudFormationClient, env: str | None, region: str) -> Outputs:
    data_name, service_name = stack_names(env)
    data = _stack_outputs(cfn, data_name, region)
    service = _stack_outputs(cfn, service_name, region)
    for stack, outputs, wanted in (
        (data_name, data, DATA_OUTPUTS),
        (service_name, service, SERVICE_OUTPUTS),
    ):
        missing = [key for key in wanted if key not in outputs]
        if missing:
            raise OpsError(
                f"stack {stack} has no output {', '.join(missing)}: redeploy it from this checkout"
            )
    return Outputs(
        proxy_endpoint=data["ProxyEndpoint"],
        proxy_name=data["ProxyName"],
        db_instance_identifier=data["DbInstanceIdentifier"],
        api_url=service["ApiUrl"],
        orders_function=service["OrdersFunctionName"],
        orders_api_function=service["OrdersApiFunctionName"],
        migration_function=service["MigrationFunctionName"],
    )


@dataclass(frozen=True)
class Invocation:
    """One synchronous Lambda invocation: the decoded payload or the function error."""

    payload: Any
    function_error: str | None


def invoke(lambda_client: LambdaClient, function_name: str, event: Mapping[str, Any]) -> Invocation:
    response = lambda_client.invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return Invocation(payload=payload, function_error=response.get("FunctionError"))


@dataclass(frozen=True)
class MetricSpec:
    """One CloudWatch metric to read; `query_id` must start with a lower-case letter."""

    query_id: str
    label: str
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str = "Maximum"


@dataclass
class Series:
    label: str
    points: dict[datetime, float] = field(default_factory=dict)

    def latest(self) -> tuple[datetime, float] | None:
        if not self.points:
            return None
        when = max(self.points)
        return when, self.points[when]

    def peak(self) -> float | None:
        return max(self.points.values()) if self.points else None


def proxy_metric(
    query_id: str, name: str, proxy_name: str, statistic: str = "Maximum"
) -> MetricSpec:
    return MetricSpec(
        query_id, f"Proxy {name}", "AWS/RDS", name, {"ProxyName": proxy_name}, statistic
    )


def read_metrics(
    cloudwatch: CloudWatchClient,
    specs: Sequence[MetricSpec],
    *,
    start: datetime,
    end: datetime,
    period_s: int = 60,
) -> dict[str, Series]:
    """Values of `specs` between start and end, keyed by query id (pages followed)."""
    queries: list[MetricDataQueryTypeDef] = [
        {
            "Id": spec.query_id,
            "Label": spec.label,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": spec.namespace,
                    "MetricName": spec.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
                },
                "Period": period_s,
                "Stat": spec.statistic,
            },
        }
        for spec in specs
    ]
    series = {spec.query_id: Series(spec.label) for spec in specs}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page["MetricDataResults"]:
            target = series[result["Id"]]
            target.points.update(zip(result["Timestamps"], result["Values"], strict=True))
        token = page.get("NextToken")
        if not token:
            return series
        kwargs["NextToken"] = token


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_guarded(
    clients: Clients | None, build: Callable[[], Clients], body: Callable[[Clients], int]
) -> int:
    """Build clients (unless injected) and run the body; setup problems become one line on
    stderr and exit code 2."""
    try:
        with aws_errors(None):
            resolved = clients or build()
        with aws_errors(resolved.region):
            return body(resolved)
    except OpsError as exc:
        return fail(str(exc))
