"""After a deploy, is the Aurora cluster behind the proxy in the shape the configuration says?

`make smoke` runs these for an environment whose data stack outputs a cluster: the cluster is
available; it has one writer and `database.reader_count` readers, each instance available; the
proxy's target group tracks the cluster and sees the writer (READ_WRITE) and every reader
(READ_ONLY) as AVAILABLE; the read-only proxy endpoint, when configured, is available with
TargetRole READ_ONLY. Each answer is read-only (rds:Describe*); every value AWS defines comes
from stacks/aws_facts.py. `endpoint_rows` reads the direct function's own answer instead: whether
each proxy endpoint answered the functions, and from which kind of instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ops.aws import Outputs
from stacks.aws_facts import (
    RDS_AVAILABLE,
    RDS_DB_INSTANCES_CLUSTER_FILTER,
    RDS_PROXY_ENDPOINT_AVAILABLE,
    RDS_PROXY_METRIC_TARGET_GROUP,
    RDS_PROXY_TARGET_AVAILABLE,
    RDS_PROXY_TARGET_ROLES,
    RDS_PROXY_TARGET_TYPES,
)
from stacks.config import AppConfig

if TYPE_CHECKING:
    from types_boto3_rds.client import RDSClient

WRITER, READER = RDS_PROXY_TARGET_ROLES.value["writer"], RDS_PROXY_TARGET_ROLES.value["reader"]
RETRY = "wait a few minutes and rerun make smoke"
# cluster_rows calls the rds:Describe* actions of stacks/outputs.py CLUSTER_READ_ACTIONS (the CI
# smoke role of an Aurora environment holds them).
# What to do about a proxy target that is not AVAILABLE, by TargetHealth.Reason
# (API_TargetHealth.html lists the reasons; the advice is this app's).
TARGET_FIXES = {
    "AUTH_FAILURE": (
        "the proxy cannot log in: the app user needs the rds_iam role (the deploy's app-user "
        "bootstrap grants it) and the proxy role rds-db:connect on the cluster's resource id; "
        "redeploy the data stack"
    ),
    "CONNECTION_FAILED": "the proxy reached the instance but could not connect: " + RETRY,
    "UNREACHABLE": (
        "the proxy cannot reach the instance: the database security group must admit the "
        "proxy's on the database port, and the instance must be available"
    ),
    "PENDING_PROXY_CAPACITY": "the proxy is adding capacity: " + RETRY,
    "INVALID_REPLICATION_STATE": (
        "the reader is not replicating yet (new, restarting or far behind): " + RETRY
    ),
    "PROMOTED": "the instance changed role (a failover): the proxy follows it; " + RETRY,
}


@dataclass(frozen=True)
class Row:
    """One line of the smoke report: a check, whether it passed, what was seen, what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def cluster_rows(rds: RDSClient, outputs: Outputs, config: AppConfig) -> list[Row]:
    """Every cluster-shape check, in report order."""
    cluster_id = outputs.db_cluster_identifier
    assert cluster_id is not None  # noqa: S101  # the caller checks the shape
    cluster = _cluster(rds, cluster_id)
    rows = [_cluster_row(cluster_id, cluster, config.env_name)]
    if cluster is not None:
        rows += _member_rows(rds, cluster_id, cluster, config)
    targets = _proxy_targets(rds, outputs.proxy_name)
    rows.append(_writer_target_row(cluster_id, targets, outputs.proxy_name))
    if config.database.readers:
        rows.append(_reader_targets_row(targets, config.database.readers))
    if config.proxy.read_only_endpoint:
        rows.append(_read_only_endpoint_row(rds, outputs, config.env_name))
    return rows


# --- the cluster and its instances ----------------------------------------------------------------


def _cluster(rds: RDSClient, cluster_id: str) -> Mapping[str, Any] | None:
    pages = rds.get_paginator("describe_db_clusters").paginate(DBClusterIdentifier=cluster_id)
    found = [c for page in pages for c in page["DBClusters"]]
    return found[0] if found else None


def _cluster_row(cluster_id: str, cluster: Mapping[str, Any] | None, env: str) -> Row:
    name = "aurora cluster"
    if cluster is None:
        return Row(name, False, f"{cluster_id} not found", f"make deploy ENV={env}")
    status = cluster["Status"]
    version = f"Aurora PostgreSQL {cluster['EngineVersion']}"
    if status == RDS_AVAILABLE.value:
        return Row(name, True, f"{cluster_id} {status}, {version}")
    fix = (
        f"wait until it is {RDS_AVAILABLE.value} (aws rds describe-db-clusters "
        f"--db-cluster-identifier {cluster_id}), then rerun make smoke; if it stays {status}, "
        f"read its events: aws rds describe-events --source-type db-cluster --source-identifier "
        f"{cluster_id}"
    )
    return Row(name, False, f"{cluster_id} is {status}, not {RDS_AVAILABLE.value}", fix)


def _member_rows(
    rds: RDSClient, cluster_id: str, cluster: Mapping[str, Any], config: AppConfig
) -> list[Row]:
    members = cluster.get("DBClusterMembers", [])
    writers = [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]
    readers = [m["DBInstanceIdentifier"] for m in members if not m["IsClusterWriter"]]
    wanted = config.database.readers
    detail = f"writer {', '.join(writers) or 'none'}; {len(readers)} reader(s)" + (
        f" {', '.join(readers)}" if readers else ""
    )
    roles = Row("cluster roles", True, f"{detail} (reader_count {wanted})")
    if len(writers) != 1:
        fix = f"a cluster has one writer: a failover may be under way; {RETRY}"
        roles = Row(roles.name, False, f"{detail}: expected one writer", fix)
    elif len(readers) != wanted:
        fix = (
            f"database.reader_count is {wanted}: redeploy (make deploy ENV={config.env_name}); "
            "an instance deleted outside CloudFormation shows as drift: aws cloudformation "
            f"detect-stack-drift --stack-name {config.data_stack_name}"
        )
        roles = Row(roles.name, False, f"{detail}: expected {wanted} reader(s)", fix)
    return [roles, _instances_row(rds, cluster_id)]


def _instances_row(rds: RDSClient, cluster_id: str) -> Row:
    name = "cluster instances"
    pages = rds.get_paginator("describe_db_instances").paginate(
        Filters=[{"Name": RDS_DB_INSTANCES_CLUSTER_FILTER.value, "Values": [cluster_id]}]
    )
    status = {
        i["DBInstanceIdentifier"]: i["DBInstanceStatus"] for p in pages for i in p["DBInstances"]
    }
    busy = [f"{i} is {s}" for i, s in sorted(status.items()) if s != RDS_AVAILABLE.value]
    if busy:
        fix = f"wait until every instance is {RDS_AVAILABLE.value}; {RETRY}"
        return Row(name, False, "; ".join(busy), fix)
    return Row(name, True, f"{len(status)} instance(s) {RDS_AVAILABLE.value}")


# --- the proxy's view of the cluster --------------------------------------------------------------


def _proxy_targets(rds: RDSClient, proxy_name: str) -> list[Mapping[str, Any]]:
    pages = rds.get_paginator("describe_db_proxy_targets").paginate(
        DBProxyName=proxy_name, TargetGroupName=RDS_PROXY_METRIC_TARGET_GROUP.value
    )
    return [t for page in pages for t in page["Targets"]]


def _health(target: Mapping[str, Any]) -> tuple[bool, str, str]:
    """(available, 'id STATE (REASON: description)', the fix for its reason)."""
    health = target.get("TargetHealth", {})
    state = health.get("State", "no health reported")
    shown = f"{target.get('RdsResourceId', '?')} {state}"
    if state == RDS_PROXY_TARGET_AVAILABLE.value:
        return True, shown, ""
    reason = health.get("Reason")
    why = ": ".join(str(x) for x in (reason, health.get("Description")) if x)
    fix = TARGET_FIXES.get(str(reason), RETRY if state == "REGISTERING" else "")
    return False, f"{shown} ({why})" if why else shown, fix or f"read the proxy's log; {RETRY}"


def _instances(targets: Sequence[Mapping[str, Any]], role: str) -> list[Mapping[str, Any]]:
    kind = RDS_PROXY_TARGET_TYPES.value["instance"]
    return [t for t in targets if t.get("Type") == kind and t.get("Role") == role]


def _writer_target_row(
    cluster_id: str, targets: Sequence[Mapping[str, Any]], proxy_name: str
) -> Row:
    name = "proxy writer target"
    tracked = [t for t in targets if t.get("Type") == RDS_PROXY_TARGET_TYPES.value["cluster"]]
    if not any(t.get("TrackedClusterId") == cluster_id for t in tracked):
        seen = ", ".join(str(t.get("TrackedClusterId")) for t in tracked) or "no cluster"
        fix = "the data stack registers the cluster with the proxy's target group: redeploy it"
        return Row(name, False, f"{proxy_name} tracks {seen}, not {cluster_id}", fix)
    writers = _instances(targets, WRITER)
    if len(writers) != 1:
        detail = f"{len(writers)} {WRITER} instance target(s), expected 1"
        return Row(name, False, detail, f"a failover may be under way; {RETRY}")
    ok, shown, fix = _health(writers[0])
    return Row(name, ok, f"{WRITER} {shown}", fix)


def _reader_targets_row(targets: Sequence[Mapping[str, Any]], wanted: int) -> Row:
    name = "proxy reader targets"
    health = [_health(t) for t in _instances(targets, READER)]
    shown = "; ".join(s for _, s, _ in health) or "none"
    if len(health) != wanted:
        fix = f"the proxy lists a new reader once it is available; {RETRY}"
        return Row(name, False, f"{READER} {shown}: expected {wanted}", fix)
    sick = [(s, f) for ok, s, f in health if not ok]
    if sick:
        return Row(name, False, f"{READER} {shown}", "; ".join(dict.fromkeys(f for _, f in sick)))
    return Row(name, True, f"{READER} {shown}")


def _endpoints(rds: RDSClient, proxy_name: str) -> Iterator[Mapping[str, Any]]:
    pages = rds.get_paginator("describe_db_proxy_endpoints").paginate(DBProxyName=proxy_name)
    for page in pages:
        yield from page["DBProxyEndpoints"]


def _read_only_endpoint_row(rds: RDSClient, outputs: Outputs, env: str) -> Row:
    name = "proxy read-only endpoint"
    redeploy = f"proxy.read_only_endpoint is true: make deploy ENV={env}"
    if outputs.proxy_read_only_endpoint is None:
        return Row(name, False, "the data stack has no ProxyReadOnlyEndpoint output", redeploy)
    found = [
        e
        for e in _endpoints(rds, outputs.proxy_name)
        if e.get("Endpoint") == outputs.proxy_read_only_endpoint
    ]
    if not found:
        detail = f"{outputs.proxy_name} has no endpoint {outputs.proxy_read_only_endpoint}"
        return Row(name, False, detail, redeploy)
    endpoint = found[0]
    status, role = endpoint.get("Status"), endpoint.get("TargetRole")
    shown = f"{endpoint.get('DBProxyEndpointName')} {status}, TargetRole {role}"
    if role != READER:
        return Row(name, False, f"{shown}: expected {READER}", redeploy)
    if status != RDS_PROXY_ENDPOINT_AVAILABLE.value:
        fix = (
            f"{RETRY}; if it stays {status}: incompatible-network means its subnets or security "
            "groups no longer fit the VPC, insufficient-resource-limits a quota (ENIs, IPs)"
        )
        return Row(name, False, f"{shown}: not {RDS_PROXY_ENDPOINT_AVAILABLE.value}", fix)
    return Row(name, True, shown)


# --- the functions' view of the endpoints (direct action check_endpoints) -----------------------

_UNREACHABLE_FIX = (
    "the functions could not use the {endpoint}: the proxy's security group (the read-only "
    "endpoint has the same) must admit the functions' on the database port, and a {role} target "
    "must be AVAILABLE (rows above); the direct function's log has the connect error"
)


def endpoint_rows(answer: Mapping[str, Any], env: str) -> list[Row]:
    """The body of the direct function's check_endpoints answer as two rows: the default
    endpoint answered from the writer; the read-only one answered, from a replica
    (pg_is_in_recovery true). The function asks each endpoint itself, with no fallback."""
    redeploy = f"proxy.read_only_endpoint is true: make deploy ENV={env} (sets DB_READ_HOST)"
    writer = _endpoint_row(
        "writer endpoint",
        answer.get("writer"),
        replica=False,
        unreachable=_UNREACHABLE_FIX.format(endpoint="default endpoint", role=WRITER),
        wrong_role=f"the default endpoint answered from a replica: a failover may be under way; "
        f"{RETRY}",
    )
    reader_answer = answer.get("reader")
    if reader_answer is None:
        return [
            writer,
            Row("read-only endpoint", False, "the functions have no DB_READ_HOST", redeploy),
        ]
    reader = _endpoint_row(
        "read-only endpoint",
        reader_answer,
        replica=True,
        unreachable=_UNREACHABLE_FIX.format(endpoint="read-only endpoint", role=READER),
        wrong_role="DB_READ_HOST must be the ProxyReadOnlyEndpoint output ("
        f"make deploy ENV={env}); if it is, a failover may be under way: {RETRY}",
    )
    return [writer, reader]


def _endpoint_row(name: str, seen: Any, *, replica: bool, unreachable: str, wrong_role: str) -> Row:
    if not isinstance(seen, Mapping) or not isinstance(seen.get("ok"), bool):
        return Row(name, False, f"unexpected answer: {seen!r}", "redeploy the service stack")
    if not seen["ok"]:
        return Row(name, False, f"did not answer the functions ({seen.get('error')})", unreachable)
    in_recovery = seen.get("in_recovery") is True
    detail = (
        f"answered from {'a replica' if in_recovery else 'the writer'} "
        f"(pg_is_in_recovery {'true' if in_recovery else 'false'})"
    )
    if in_recovery != replica:
        return Row(
            name,
            False,
            f"{detail}, expected {'a replica' if replica else 'the writer'}",
            wrong_role,
        )
    return Row(name, True, detail)
