"""Shared plumbing for the ops scripts: clients, stack outputs, invocations, metrics, errors."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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

from ops.cli import fail
from stacks import metric_catalog as mc
from stacks import outputs as out
from stacks.aws_facts import AURORA_METRIC_ROLE_WRITER, CFN_DEPLOYABLE_STATES
from stacks.loader import environment_names, load

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials
    from types_boto3_cloudformation.client import CloudFormationClient
    from types_boto3_cloudwatch.client import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_rds.client import RDSClient

# The outputs smoke and burst need (stacks/outputs.py names them), per database shape.
DATA_OUTPUTS = out.DATA_OUTPUTS
CLUSTER_DATA_OUTPUTS = out.CLUSTER_DATA_OUTPUTS
SERVICE_OUTPUTS = (
    out.API_URL,
    out.DIRECT_FUNCTION_NAME,
    out.API_FUNCTION_NAME,
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
AUTH_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}
# What a call the identity may not make answers (RDS, CloudWatch, Lambda, STS, EC2, SNS...).
ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnauthorizedException",
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
    rds: RDSClient | None = None  # smoke's cluster checks (an Aurora environment)


@dataclass(frozen=True)
class Session:
    """A boto3 session whose region and credentials were checked."""

    session: boto3.Session
    region: str
    credentials: ReadOnlyCredentials


# Read-only calls: short timeouts, botocore's standard retries.
BASE_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard"})


def open_session(region: str | None, profile: str | None) -> Session:
    """The default credential chain; raise OpsError for what the user must fix.

    botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which the CDK CLI (the deploy) reads
    first: honour it the same way, so both talk to one region.
    """
    region = region or os.environ.get("AWS_REGION") or None
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
    return Session(session, resolved, credentials.get_frozen_credentials())


def make_clients(
    region: str | None,
    profile: str | None,
    *,
    max_pool_connections: int = 10,
    lambda_attempts: int = 3,
    read_timeout_s: int = 70,
) -> Clients:
    """Clients for the default credential chain; raise OpsError for what the user must fix."""
    opened = open_session(region, profile)
    invoke = Config(
        connect_timeout=5,
        read_timeout=read_timeout_s,
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": lambda_attempts},
    )
    session = opened.session
    return Clients(
        region=opened.region,
        cloudformation=session.client("cloudformation", config=BASE_CONFIG),
        lambda_=session.client("lambda", config=invoke),
        cloudwatch=session.client("cloudwatch", config=BASE_CONFIG),
        credentials=opened.credentials,
        rds=session.client("rds", config=BASE_CONFIG),
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
        if code in AUTH_ERRORS:
            message = exc.response.get("Error", {}).get("Message", code)
            raise OpsError(f"AWS rejected the credentials{where}: {code}: {message}") from None
        raise


def add_common_arguments(
    parser: argparse.ArgumentParser, context: Mapping[str, Any] | None = None
) -> None:
    """--env (the environments of cdk.json, or of `context`), --region, --profile."""
    parser.add_argument(
        "--env",
        choices=environment_names(context),
        help="deployed environment (default: cdk.json project.default_env)",
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default chain)")


@dataclass(frozen=True)
class Outputs:
    """The stack outputs the scripts rely on (keys in stacks/outputs.py): an RDS instance's
    identifier, or an Aurora cluster's (and its read-only proxy endpoint, when configured)."""

    proxy_endpoint: str
    proxy_name: str
    db_instance_identifier: str | None
    api_url: str
    direct_function: str
    api_function: str
    migration_function: str
    db_cluster_identifier: str | None = None
    proxy_read_only_endpoint: str | None = None


@dataclass(frozen=True)
class StackState:
    """A deployed stack: its status and outputs."""

    name: str
    status: str
    outputs: Mapping[str, str]

    @property
    def deployable(self) -> bool:
        """Its outputs describe what is deployed and a deploy can update it."""
        return self.status in CFN_DEPLOYABLE_STATES.value


def describe_stack(cfn: CloudFormationClient, name: str) -> StackState | None:
    """The stack called `name`, or None when it does not exist in the client's region."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            return None
        raise
    stack = stacks[0]
    found = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackState(name, stack["StackStatus"], found)


def _stack_outputs(cfn: CloudFormationClient, name: str, region: str) -> Mapping[str, str]:
    stack = describe_stack(cfn, name)
    if stack is None:
        raise OpsError(
            f"stack {name} not found in {region}: deploy it (make deploy) "
            "or pick the region it lives in (--region / AWS_REGION)"
        )
    if not stack.deployable:
        raise OpsError(
            f"stack {name} in {region} is {stack.status}: wait for or fix the deployment"
        )
    return stack.outputs


def read_outputs(cfn: CloudFormationClient, env: str | None, region: str) -> Outputs:
    config = load(env)
    data_name, service_name = config.data_stack_name, config.service_stack_name
    data = _stack_outputs(cfn, data_name, region)
    service = _stack_outputs(cfn, service_name, region)
    data_wanted = CLUSTER_DATA_OUTPUTS if config.database.is_aurora else DATA_OUTPUTS
    for stack, outputs, wanted in (
        (data_name, data, data_wanted),
        (service_name, service, SERVICE_OUTPUTS),
    ):
        missing = [key for key in wanted if key not in outputs]
        if missing:
            raise OpsError(
                f"stack {stack} has no output {', '.join(missing)}: redeploy it from this checkout"
            )
    return Outputs(
        proxy_endpoint=data[out.PROXY_ENDPOINT],
        proxy_name=data[out.PROXY_NAME],
        db_instance_identifier=data.get(out.DB_INSTANCE_IDENTIFIER),
        api_url=service[out.API_URL],
        direct_function=service[out.DIRECT_FUNCTION_NAME],
        api_function=service[out.API_FUNCTION_NAME],
        migration_function=data[out.MIGRATION_FUNCTION_NAME],
        db_cluster_identifier=data.get(out.DB_CLUSTER_IDENTIFIER),
        proxy_read_only_endpoint=data.get(out.PROXY_READ_ONLY_ENDPOINT),
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
    """One CloudWatch metric to read, built from the metric catalog (so AWS publishes it like
    this); `query_id` must start with a lower-case letter."""

    query_id: str
    label: str
    ref: mc.MetricRef

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def dimensions(self) -> Mapping[str, str]:
        return self.ref.dimensions

    @property
    def statistic(self) -> str:
        return self.ref.statistic


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


def proxy_metric(query_id: str, name: str, proxy_name: str) -> MetricSpec:
    """A whole-proxy metric (dimension set 1) with the catalog's statistic: Sum over the proxy's
    nodes for connection counts, Average for latencies."""
    ref = mc.metric(mc.RDS, name, mc.proxy_dimensions(proxy_name))
    return MetricSpec(query_id, f"Proxy {name}", ref)


def instance_metric(query_id: str, name: str, db_instance_identifier: str) -> MetricSpec:
    ref = mc.metric(mc.RDS, name, {"DBInstanceIdentifier": db_instance_identifier})
    return MetricSpec(query_id, f"DB {name}", ref)


def writer_metric(query_id: str, name: str, outputs: Outputs) -> MetricSpec:
    """The database's metric: the RDS instance's, or an Aurora cluster's writer (by
    DBClusterIdentifier + Role, which follows a failover)."""
    if outputs.db_instance_identifier is not None:
        return instance_metric(query_id, name, outputs.db_instance_identifier)
    if outputs.db_cluster_identifier is None:
        raise OpsError("the data stack outputs neither an instance nor a cluster identifier")
    dims = {
        "DBClusterIdentifier": outputs.db_cluster_identifier,
        "Role": AURORA_METRIC_ROLE_WRITER.value,
    }
    return MetricSpec(query_id, f"Writer {name}", mc.metric(mc.RDS, name, dims))


def function_metric(query_id: str, name: str, function_name: str) -> MetricSpec:
    ref = mc.metric(mc.LAMBDA, name, {"FunctionName": function_name})
    return MetricSpec(query_id, f"Lambda {name}", ref)


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


class Regional(Protocol):
    """Any set of clients bound to one region."""

    @property
    def region(self) -> str: ...


C = TypeVar("C", bound=Regional)


def run_guarded(clients: C | None, build: Callable[[], C], body: Callable[[C], int]) -> int:
    """Build clients (unless injected) and run the body; setup problems become one line on
    stderr and exit code 2."""
    try:
        with aws_errors(None):
            resolved = clients or build()
        with aws_errors(resolved.region):
            return body(resolved)
    except OpsError as exc:
        return fail(str(exc))
