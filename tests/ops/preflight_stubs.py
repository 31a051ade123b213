"""A stubbed account for the preflight tests: what each AWS call answers, in call order.

`Account` holds the answers; its defaults pass every check for a fresh account. A test changes
one field to produce one failure. `stub_account` queues the responses (botocore's Stubber
checks every request against the service model and the expected parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from ops.cdk_app import BootstrapRequirement
from ops.preflight_checks import PreflightClients
from stacks import outputs as out
from stacks.config import AppConfig
from tests.fixture_config import APP_NAME, SMALL
from tests.ops.aws_stubs import ACCOUNT, REGION, stack_response

REQUIREMENT = BootstrapRequirement(
    version=6,
    parameter="/cdk-bootstrap/hnb659fds/version",
    qualifier="hnb659fds",
    toolkit_stack="CDKToolkit",
)
CALLER_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/jane"
OUR_PROXY = f"{APP_NAME}{SMALL}DataProxy538AF1B0".lower()  # as RDS lists the data stack's
OTHER_PROXY = "billing-legacy-proxy"  # another application's proxy in the account
ZONES = (f"{REGION}a", f"{REGION}b", f"{REGION}c")


@dataclass
class Stubs:
    clients: PreflightClients
    stubbers: dict[str, Stubber]

    def __getattr__(self, name: str) -> Stubber:
        return self.stubbers[name]

    def assert_done(self) -> None:
        for stub in self.stubbers.values():
            stub.assert_no_pending_responses()


def option(**overrides: Any) -> dict[str, Any]:
    """One OrderableDBInstanceOption row as RDS returns it (gp3, every feature this app uses)."""
    row: dict[str, Any] = {
        "Engine": "postgres",
        "EngineVersion": "17.9",
        "DBInstanceClass": "db.t4g.medium",
        "LicenseModel": "postgresql-license",
        "AvailabilityZones": [{"Name": z} for z in ZONES],
        "MultiAZCapable": True,
        "ReadReplicaCapable": True,
        "Vpc": True,
        "SupportsStorageEncryption": True,
        "StorageType": "gp3",
        "SupportsIops": True,
        "SupportsStorageThroughput": True,
        "SupportsIAMDatabaseAuthentication": True,
        "SupportsPerformanceInsights": True,
        "MinStorageSize": 20,
        "MaxStorageSize": 65536,
        "SupportsStorageAutoscaling": True,
    }
    row.update(overrides)
    return row


def aurora_option(db_class: str = "db.serverless", **overrides: Any) -> dict[str, Any]:
    """One OrderableDBInstanceOption row of Aurora PostgreSQL as RDS returns it: cluster storage
    ("aurora"), no Multi-AZ flag (replicas are instances), IAM auth and Performance Insights."""
    row: dict[str, Any] = {
        "Engine": "aurora-postgresql",
        "EngineVersion": "17.9",
        "DBInstanceClass": db_class,
        "LicenseModel": "postgresql-license",
        "AvailabilityZones": [{"Name": z} for z in ZONES],
        "MultiAZCapable": False,
        "ReadReplicaCapable": False,
        "Vpc": True,
        "SupportsStorageEncryption": True,
        "StorageType": "aurora",
        "SupportsIops": False,
        "SupportsIAMDatabaseAuthentication": True,
        "SupportsPerformanceInsights": True,
        "SupportedEngineModes": ["provisioned"],
        "SupportsClusters": True,
    }
    row.update(overrides)
    return row


@dataclass
class Account:
    """The stubbed account's answers. None for a stack status means the stack does not exist."""

    data_status: str | None = None
    service_status: str | None = None
    synthesizes: bool = True  # False: no bootstrap reads (the app's needs are unknown)
    toolkit_status: str | None = "UPDATE_COMPLETE"
    bootstrap_version: str | None = "30"
    account_limit: int = 1000
    unreserved: int = 1000
    held: dict[str, int] = field(default_factory=dict)
    engine_status: str | None = "available"  # None: the version is not offered
    other_versions: tuple[str, ...] = ("16.8", "17.5", "17.6")
    options: list[dict[str, Any]] = field(
        default_factory=lambda: [option(StorageType="gp2"), option(), option(StorageType="io1")]
    )
    # Aurora: the orderable rows per DBInstanceClass (a class not listed: every feature offered)
    # and the engine version's ServerlessV2FeaturesSupport (None: not reported).
    cluster_options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    serverless_limits: dict[str, float] | None = field(
        default_factory=lambda: {"MinCapacity": 0.0, "MaxCapacity": 256.0}
    )
    zones: dict[str, str] = field(default_factory=lambda: dict.fromkeys(ZONES, "available"))
    default_subnet_zones: tuple[str, ...] = ZONES
    proxies: tuple[str, ...] | None = (OTHER_PROXY,)  # None: the read is denied
    proxy_quota: int | None = 20  # None: Service Quotas denies the read
    rds_quotas: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "DBInstances": (3, 40),
            "DBSubnetGroups": (3, 50),
            "DBParameterGroups": (4, 50),
            "AllocatedStorage": (300, 100000),
            "ManualSnapshots": (2, 100),
            "DBClusters": (1, 40),
            "DBClusterParameterGroups": (1, 50),
        }
    )
    vpcs: int = 2
    vpc_quota: int | None = 5
    topic: dict[str, str] | None = field(
        default_factory=lambda: {"SubscriptionsConfirmed": "2", "Owner": ACCOUNT}
    )


def _stack(stub: Stubber, name: str, status: str | None, outputs: dict[str, str]) -> None:
    if status is None:
        stub.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {name} does not exist",
            http_status_code=400,
            expected_params={"StackName": name},
        )
        return
    stub.add_response("describe_stacks", stack_response(name, outputs, status), {"StackName": name})


def _stacks_and_bootstrap(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    stubs.sts.add_response(
        "get_caller_identity", {"UserId": "AROAEXAMPLE:jane", "Account": ACCOUNT, "Arn": CALLER_ARN}
    )
    _stack(
        stubs.cloudformation, config.data_stack_name, acct.data_status, {out.PROXY_NAME: OUR_PROXY}
    )
    _stack(stubs.cloudformation, config.service_stack_name, acct.service_status, {})
    if not acct.synthesizes:
        return
    _stack(stubs.cloudformation, REQUIREMENT.toolkit_stack, acct.toolkit_status, {})
    if acct.toolkit_status not in (None, "UPDATE_COMPLETE", "CREATE_COMPLETE"):
        return
    if acct.bootstrap_version is None:
        stubs.ssm.add_client_error(
            "get_parameter", "ParameterNotFound", http_status_code=400,
            expected_params={"Name": REQUIREMENT.parameter},
        )  # fmt: skip
        return
    parameter = {
        "Name": REQUIREMENT.parameter,
        "Type": "String",
        "Value": acct.bootstrap_version,
        "Version": 3,
        "LastModifiedDate": datetime(2026, 10, 2, tzinfo=UTC),
        "ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{REQUIREMENT.parameter}",
        "DataType": "text",
    }
    stubs.ssm.add_response(
        "get_parameter", {"Parameter": parameter}, {"Name": REQUIREMENT.parameter}
    )


def _lambda(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    settings = {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": acct.account_limit,
            "UnreservedConcurrentExecutions": acct.unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 41943040, "FunctionCount": 12},
    }
    stubs.lambda_.add_response("get_account_settings", settings, {})
    if acct.service_status is None:
        return
    resources = [
        {
            "LogicalResourceId": f"Fn{i}",
            "PhysicalResourceId": name,
            "ResourceType": "AWS::Lambda::Function",
            "LastUpdatedTimestamp": datetime(2026, 11, 20, tzinfo=UTC),
            "ResourceStatus": "UPDATE_COMPLETE",
        }
        for i, name in enumerate(acct.held)
    ]
    resources.append(
        {
            "LogicalResourceId": "AlarmTopic",
            "PhysicalResourceId": f"arn:aws:sns:{REGION}:{ACCOUNT}:t",
            "ResourceType": "AWS::SNS::Topic",
            "LastUpdatedTimestamp": datetime(2026, 11, 20, tzinfo=UTC),
            "ResourceStatus": "CREATE_COMPLETE",
        }
    )
    stubs.cloudformation.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": resources},
        {"StackName": config.service_stack_name},
    )
    for name, reserved in acct.held.items():
        answer = {"ReservedConcurrentExecutions": reserved} if reserved else {}
        stubs.lambda_.add_response("get_function_concurrency", answer, {"FunctionName": name})


def _engine(version: str, status: str) -> dict[str, Any]:
    return {
        "Engine": "postgres",
        "EngineVersion": version,
        "DBParameterGroupFamily": f"postgres{version.split('.', maxsplit=1)[0]}",
        "Status": status,
    }


def _aurora_engine(acct: Account, version: str) -> dict[str, Any]:
    found = {
        "Engine": "aurora-postgresql",
        "EngineVersion": version,
        "DBParameterGroupFamily": f"aurora-postgresql{version.split('.', maxsplit=1)[0]}",
        "SupportedEngineModes": ["provisioned"],
        "Status": acct.engine_status or "available",
    }
    if acct.serverless_limits is not None:
        found["ServerlessV2FeaturesSupport"] = acct.serverless_limits
    return found


def _aurora_engine_and_class(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    """What an Aurora environment asks: the version, each class it uses, the version again for
    its Serverless v2 limits."""
    db = config.database
    version_params = {"Engine": "aurora-postgresql", "EngineVersion": db.engine_version}
    answer = {"DBEngineVersions": [_aurora_engine(acct, db.engine_version)]}
    stubs.rds.add_response("describe_db_engine_versions", answer, version_params)
    classes = [db.instance_class] + [db.readers_class] * bool(db.readers)
    for name in dict.fromkeys("db.serverless" if c == "serverless" else f"db.{c}" for c in classes):
        rows = acct.cluster_options.get(name, [aurora_option(name)])
        params = {**version_params, "DBInstanceClass": name, "Vpc": True}
        stubs.rds.add_response(
            "describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": rows}, params
        )
    if "serverless" in classes:
        stubs.rds.add_response("describe_db_engine_versions", answer, version_params)


def _rds_engine_and_class(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    if config.database.is_aurora:
        _aurora_engine_and_class(stubs, acct, config)
        return
    version = config.database.engine_version
    found = [] if acct.engine_status is None else [_engine(version, acct.engine_status)]
    stubs.rds.add_response(
        "describe_db_engine_versions",
        {"DBEngineVersions": found},
        {"Engine": "postgres", "EngineVersion": version},
    )
    if acct.engine_status is None:
        offered = [_engine(v, "available") for v in acct.other_versions]
        stubs.rds.add_response(
            "describe_db_engine_versions", {"DBEngineVersions": offered}, {"Engine": "postgres"}
        )
    # two pages: the paginator must follow the marker
    params = {
        "Engine": "postgres",
        "EngineVersion": version,
        "DBInstanceClass": f"db.{config.database.instance_class}",
        "Vpc": True,
    }
    half = len(acct.options) // 2
    stubs.rds.add_response(
        "describe_orderable_db_instance_options",
        {"OrderableDBInstanceOptions": acct.options[:half], "Marker": "page-2"},
        params,
    )
    stubs.rds.add_response(
        "describe_orderable_db_instance_options",
        {"OrderableDBInstanceOptions": acct.options[half:]},
        {**params, "Marker": "page-2"},
    )


def _zones(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    zones = [
        {
            "ZoneName": name,
            "ZoneId": f"euw1-az{i + 1}",
            "State": state,
            "RegionName": REGION,
            "ZoneType": "availability-zone",
            "OptInStatus": "opt-in-not-required",
            "GroupName": REGION,
            "NetworkBorderGroup": REGION,
            "Messages": [],
        }
        for i, (name, state) in enumerate(acct.zones.items())
    ]
    stubs.ec2.add_response(
        "describe_availability_zones",
        {"AvailabilityZones": zones},
        {"Filters": [{"Name": "zone-type", "Values": ["availability-zone"]}]},
    )
    available = sum(state == "available" for state in acct.zones.values())
    if config.network.availability_zones is not None or available < config.network.max_azs:
        return
    subnets = [
        {
            "SubnetId": f"subnet-0{i}a1b2c3d4e5f6789",
            "VpcId": "vpc-0a1b2c3d4e5f67890",
            "AvailabilityZone": az,
            "CidrBlock": f"172.31.{16 * i}.0/20",
            "DefaultForAz": True,
            "State": "available",
        }
        for i, az in enumerate(acct.default_subnet_zones)
    ]
    stubs.ec2.add_response(
        "describe_subnets",
        {"Subnets": subnets},
        {"Filters": [{"Name": "default-for-az", "Values": ["true"]}]},
    )


def _quota(stubs: Stubs, service: str, code: str, name: str, value: int | None) -> None:
    params = {"ServiceCode": service, "QuotaCode": code}
    if value is None:
        stubs.service_quotas.add_client_error(
            "get_service_quota", "AccessDeniedException", http_status_code=400,
            expected_params=params,
        )  # fmt: skip
        return
    quota = {
        "ServiceCode": service,
        "QuotaCode": code,
        "QuotaName": name,
        "Value": float(value),
        "Adjustable": True,
        "GlobalQuota": False,
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:{service}/{code}",
    }
    stubs.service_quotas.add_response("get_service_quota", {"Quota": quota}, params)


def _proxy(name: str) -> dict[str, Any]:
    return {
        "DBProxyName": name,
        "DBProxyArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:prx-0123456789abcdef0",
        "Status": "available",
        "EngineFamily": "POSTGRESQL",
        "VpcId": "vpc-0a1b2c3d4e5f67890",
        "RequireTLS": True,
        "Endpoint": f"{name}.proxy-c1x2y3z4w5v6.{REGION}.rds.amazonaws.com",
    }


def _quotas(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    if acct.proxies is None:
        stubs.rds.add_client_error("describe_db_proxies", "AccessDenied", "not authorized", 403)
    else:
        answer = {"DBProxies": [_proxy(p) for p in acct.proxies]}
        stubs.rds.add_response("describe_db_proxies", answer, {})
        if acct.data_status is None or OUR_PROXY not in acct.proxies:
            _quota(stubs, "rds", "L-D94C7EA3", "Proxies", acct.proxy_quota)
    if acct.data_status is not None:
        return
    quotas = [
        {"AccountQuotaName": name, "Used": used, "Max": limit}
        for name, (used, limit) in acct.rds_quotas.items()
    ]
    stubs.rds.add_response("describe_account_attributes", {"AccountQuotas": quotas}, {})
    vpcs = [
        {"VpcId": f"vpc-0{i}a1b2c3d4e5f6789", "CidrBlock": f"10.{i}.0.0/16", "State": "available"}
        for i in range(acct.vpcs)
    ]
    stubs.ec2.add_response("describe_vpcs", {"Vpcs": vpcs}, {})
    _quota(stubs, "vpc", "L-F678F1CE", "VPCs per Region", acct.vpc_quota)


def _topic(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    arn = config.monitoring.alarm_topic_arn
    if arn is None or arn.split(":")[3] != REGION:
        return
    if acct.topic is None:
        stubs.sns.add_client_error(
            "get_topic_attributes", "NotFound", "Topic does not exist", 404,
            expected_params={"TopicArn": arn},
        )  # fmt: skip
        return
    attributes = {
        "TopicArn": arn,
        "Owner": arn.split(":")[4],
        "DisplayName": "",
        "SubscriptionsPending": "0",
        "SubscriptionsDeleted": "0",
        "EffectiveDeliveryPolicy": "{}",
        **acct.topic,
    }
    stubs.sns.add_response("get_topic_attributes", {"Attributes": attributes}, {"TopicArn": arn})


def stub_account(stubs: Stubs, acct: Account, config: AppConfig) -> None:
    """Queue every answer preflight asks for, in the order it asks."""
    for part in (_stacks_and_bootstrap, _lambda, _rds_engine_and_class, _zones, _quotas, _topic):
        part(stubs, acct, config)
