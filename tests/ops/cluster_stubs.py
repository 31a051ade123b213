"""A deployed Aurora environment as RDS describes it, for the cluster-shape checks of smoke.

`Cluster` holds what RDS answers; its defaults are a healthy cluster of the fixture's Aurora
environment (one writer, one reader, a read-only proxy endpoint). A test changes one field.
Every response is written out as the RDS API reference shows it (DBCluster, DBClusterMember,
DBInstance, DBProxyTarget + TargetHealth, DBProxyEndpoint), never built from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from stacks import outputs as out
from stacks.config import AppConfig
from stacks.loader import load
from tests.fixture_config import SMALL, aurora_context
from tests.ops.aws_stubs import ACCOUNT, DATA_OUTPUTS, DATA_STACK, PROXY_NAME, REGION

# The fixture's small environment as Aurora Serverless v2 with one reader and a read-only
# proxy endpoint.
AURORA_CONTEXT = aurora_context(reader_count=1, proxy={"read_only_endpoint": True})
AURORA_CONFIG = load(SMALL, AURORA_CONTEXT)
# Physical names as CloudFormation and RDS generate them (lower case).
CLUSTER_ID = f"{DATA_STACK}-databasecluster5b53a178-q1w2e3r4t5y6".lower()
WRITER_ID = f"{DATA_STACK}-databaseclusterwriter-a1b2c3d4e5f6".lower()
READER_ID = f"{DATA_STACK}-databaseclusterreader1-f6e5d4c3b2a1".lower()
RO_NAME = "databaseproxyreadonlyendpoint-7h8j9k"
RO_HOST = f"{RO_NAME}.endpoint.proxy-c1x2y3z4w5v6.{REGION}.rds.amazonaws.com"
CLUSTER_OUTPUTS = {
    **{k: v for k, v in DATA_OUTPUTS.items() if k != out.DB_INSTANCE_IDENTIFIER},
    out.DB_CLUSTER_IDENTIFIER: CLUSTER_ID,
    out.PROXY_READ_ONLY_ENDPOINT: RO_HOST,
}
CREATED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def target(instance_id: str, role: str, state: str = "AVAILABLE", **health: str) -> dict[str, Any]:
    """An RDS_INSTANCE target of the cluster; `health` adds Reason / Description."""
    return {
        "TargetArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{instance_id}",
        "Endpoint": f"{instance_id}.c1x2y3z4w5v6.{REGION}.rds.amazonaws.com",
        "TrackedClusterId": CLUSTER_ID,
        "RdsResourceId": instance_id,
        "Port": 5432,
        "Type": "RDS_INSTANCE",
        "Role": role,
        "TargetHealth": {"State": state, **health},
    }


def tracked_cluster(cluster_id: str = CLUSTER_ID) -> dict[str, Any]:
    return {
        "TargetArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{cluster_id}",
        "TrackedClusterId": cluster_id,
        "RdsResourceId": cluster_id,
        "Type": "TRACKED_CLUSTER",
    }


def proxy_endpoint(name: str, host: str, role: str, status: str = "available") -> dict[str, Any]:
    return {
        "DBProxyEndpointName": name,
        "DBProxyEndpointArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy-endpoint:prx-endpoint-0f1e",
        "DBProxyName": PROXY_NAME,
        "Status": status,
        "VpcId": "vpc-0a1b2c3d4e5f67890",
        "VpcSecurityGroupIds": ["sg-0123456789abcdef0"],
        "VpcSubnetIds": ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"],
        "Endpoint": host,
        "CreatedDate": CREATED,
        "TargetRole": role,
        "IsDefault": role == "READ_WRITE" and name == "default",
    }


DEFAULT_ENDPOINT = proxy_endpoint("default", DATA_OUTPUTS[out.PROXY_ENDPOINT], "READ_WRITE")


@dataclass
class Cluster:
    """RDS's answers about the deployed cluster and its proxy."""

    status: str = "available"
    # DBInstanceIdentifier -> (IsClusterWriter, DBInstanceStatus)
    members: dict[str, tuple[bool, str]] = field(
        default_factory=lambda: {WRITER_ID: (True, "available"), READER_ID: (False, "available")}
    )
    targets: list[dict[str, Any]] = field(
        default_factory=lambda: [
            tracked_cluster(),
            target(WRITER_ID, "READ_WRITE"),
            target(READER_ID, "READ_ONLY"),
        ]
    )
    # None: the checks do not ask (no read-only endpoint output to look for)
    endpoints: list[dict[str, Any]] | None = field(
        default_factory=lambda: [DEFAULT_ENDPOINT, proxy_endpoint(RO_NAME, RO_HOST, "READ_ONLY")]
    )


def _db_cluster(cluster: Cluster) -> dict[str, Any]:
    return {
        "DBClusterIdentifier": CLUSTER_ID,
        "DBClusterArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{CLUSTER_ID}",
        "Status": cluster.status,
        "Engine": "aurora-postgresql",
        "EngineVersion": "17.9",
        "EngineMode": "provisioned",
        "Port": 5432,
        "MultiAZ": len(cluster.members) > 1,
        "Endpoint": f"{CLUSTER_ID}.cluster-c1x2y3z4w5v6.{REGION}.rds.amazonaws.com",
        "ReaderEndpoint": f"{CLUSTER_ID}.cluster-ro-c1x2y3z4w5v6.{REGION}.rds.amazonaws.com",
        "DBClusterMembers": [
            {
                "DBInstanceIdentifier": instance_id,
                "IsClusterWriter": writer,
                "DBClusterParameterGroupStatus": "in-sync",
                "PromotionTier": 1,
            }
            for instance_id, (writer, _) in cluster.members.items()
        ],
        "IAMDatabaseAuthenticationEnabled": True,
        "StorageEncrypted": True,
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 1.0, "MaxCapacity": 8.0},
        "ClusterCreateTime": CREATED,
    }


def _db_instance(instance_id: str, status: str) -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": instance_id,
        "DBInstanceClass": "db.serverless",
        "Engine": "aurora-postgresql",
        "DBInstanceStatus": status,
        "DBClusterIdentifier": CLUSTER_ID,
        "EngineVersion": "17.9",
        "PubliclyAccessible": False,
        "InstanceCreateTime": CREATED,
    }


def add_cluster(stub: Stubber, cluster: Cluster, config: AppConfig = AURORA_CONFIG) -> None:
    """Queue RDS's answers in the order the cluster checks ask."""
    stub.add_response(
        "describe_db_clusters",
        {"DBClusters": [_db_cluster(cluster)]},
        {"DBClusterIdentifier": CLUSTER_ID},
    )
    instances = [_db_instance(i, status) for i, (_, status) in cluster.members.items()]
    stub.add_response(
        "describe_db_instances",
        {"DBInstances": instances},
        {"Filters": [{"Name": "db-cluster-id", "Values": [CLUSTER_ID]}]},
    )
    stub.add_response(
        "describe_db_proxy_targets",
        {"Targets": cluster.targets},
        {"DBProxyName": PROXY_NAME, "TargetGroupName": "default"},
    )
    if config.proxy.read_only_endpoint and cluster.endpoints is not None:
        stub.add_response(
            "describe_db_proxy_endpoints",
            {"DBProxyEndpoints": cluster.endpoints},
            {"DBProxyName": PROXY_NAME},
        )
