"""Network, Database and Proxy constructs in isolation, built from fixture config sections.

Each construct goes into a bare stack with only the collaborators it needs, under cdk-nag, so a
fork that changes one component sees that component's tests fail, not the whole app's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import RemovalPolicy
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from stacks.components.database import Database
from stacks.components.encryption import DataKey
from stacks.components.logs import LogsKey
from stacks.components.network import Network
from stacks.components.proxy import Proxy
from stacks.config import AppConfig, DatabaseConfig, NetworkConfig, ProxyConfig
from stacks.loader import load
from tests.fixture_config import LARGE, SMALL, fixture_context

pytestmark = pytest.mark.infra

SMALL_CONFIG = load(SMALL, fixture_context())
LARGE_CONFIG = load(LARGE, fixture_context())


class _Stack(cdk.Stack):
    """An environment-agnostic stack whose AZs are known (CDK gives such a stack only two)."""

    @property
    def availability_zones(self) -> list[str]:
        return ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@dataclass(frozen=True)
class DataTier:
    stack: cdk.Stack
    network: Network
    database: Database
    proxy: Proxy

    @property
    def template(self) -> Template:
        return Template.from_stack(self.stack)


def _data_tier(
    name: str,
    config: AppConfig,
    *,
    network: NetworkConfig | None = None,
    database: DatabaseConfig | None = None,
    proxy: ProxyConfig | None = None,
) -> DataTier:
    app = cdk.App()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = _Stack(app, name)
    key = DataKey(stack, "Encryption", app_name="Fixture", removal_policy=RemovalPolicy.DESTROY)
    net = Network(
        stack,
        "Network",
        config=network or config.network,
        logs_key=LogsKey(stack, "Logs", removal_policy=RemovalPolicy.DESTROY),
        removal_policy=RemovalPolicy.DESTROY,
    )
    db = Database(
        stack,
        "Database",
        vpc=net.vpc,
        subnets=net.data_subnets,
        key=key.key,
        config=database or config.database,
    )
    px = Proxy(
        stack,
        "Proxy",
        vpc=net.vpc,
        subnets=net.data_subnets,
        database=db,
        key=key.key,
        config=proxy or config.proxy,
    )
    if px.app_user_secret is not None:
        net.allow_endpoint_from("secretsmanager", px.security_group)
        net.allow_endpoint_from("secretsmanager", px.rotation_security_group)
    return DataTier(stack, net, db, px)


@pytest.fixture(scope="module")
def small() -> DataTier:
    return _data_tier("SmallData", SMALL_CONFIG)


@pytest.fixture(scope="module")
def large() -> DataTier:
    return _data_tier("LargeData", LARGE_CONFIG)


def _one(template: Template, resource_type: str) -> dict[str, Any]:
    (resource,) = template.find_resources(resource_type).values()
    return resource


# --- Network -------------------------------------------------------------------------------------


def test_network_has_isolated_data_and_app_subnets_per_az(small: DataTier, large: DataTier) -> None:
    for tier, azs, cidr in ((small, 2, "10.60.0.0/16"), (large, 3, "10.61.0.0/16")):
        t = tier.template
        t.resource_count_is("AWS::EC2::Subnet", 2 * azs)
        t.resource_count_is("AWS::EC2::NatGateway", 0)
        t.resource_count_is("AWS::EC2::InternetGateway", 0)
        t.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": cidr})


def test_network_with_nat_adds_public_subnets_and_egress_for_functions() -> None:
    net = replace(SMALL_CONFIG.network, nat_gateways=1, interface_endpoints=())
    tier = _data_tier("NatData", SMALL_CONFIG, network=net)
    tier.template.resource_count_is("AWS::EC2::NatGateway", 1)
    tier.template.resource_count_is("AWS::EC2::Subnet", 3 * 2)
    assert tier.network.app_subnet_type == cdk.aws_ec2.SubnetType.PRIVATE_WITH_EGRESS
    tier.template.resource_count_is("AWS::EC2::VPCEndpoint", 0)


def test_flow_logs_capture_all_traffic_with_the_configured_retention(small: DataTier) -> None:
    small.template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL"}
    )
    small.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})


def test_endpoint_security_groups_admit_nobody_until_asked(small: DataTier) -> None:
    # The proxy (iam mode) needs no endpoint: nothing asked, so no ingress on the endpoint group.
    endpoint_sg = small.network.endpoints["secretsmanager"].connections.security_groups[0]
    sg_id = small.stack.resolve(endpoint_sg.security_group_id)
    ingress = small.template.find_resources("AWS::EC2::SecurityGroupIngress")
    assert not [r for r in ingress.values() if json.dumps(sg_id) in json.dumps(r["Properties"])]
    small.template.has_resource_properties(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface", "PrivateDnsEnabled": True}
    )


def test_allow_endpoint_from_ignores_endpoints_this_network_lacks(small: DataTier) -> None:
    before = len(small.template.find_resources("AWS::EC2::SecurityGroupEgress"))
    small.network.allow_endpoint_from("xray", small.proxy.security_group)
    assert len(small.template.find_resources("AWS::EC2::SecurityGroupEgress")) == before


# --- Database ------------------------------------------------------------------------------------


def test_database_instance_follows_its_config(small: DataTier, large: DataTier) -> None:
    for tier, multi_az, retention, mode, days, policy in (
        (small, False, 2, "standard", 7, "Delete"),
        (large, True, 9, "advanced", 465, "Snapshot"),
    ):
        db = _one(tier.template, "AWS::RDS::DBInstance")
        props = db["Properties"]
        assert props["DBInstanceClass"] == "db.t4g.medium" if tier is small else "db.m7g.large"
        assert (props["MultiAZ"], props["BackupRetentionPeriod"]) == (multi_az, retention)
        assert props["DeletionProtection"] is multi_az
        assert (props["DatabaseInsightsMode"], props["PerformanceInsightsRetentionPeriod"]) == (
            mode,
            days,
        )
        assert db["DeletionPolicy"] == policy
        assert props["AllocatedStorage"] == "21"
        assert props["MaxAllocatedStorage"] == 40
        assert props["DBName"] == "shopdb"


def test_database_is_private_encrypted_tls_only_and_iam_enabled(small: DataTier) -> None:
    small.template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "EngineVersion": "17.9",
            "StorageType": "gp3",
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
            "EnableIAMDatabaseAuthentication": True,
            "ManageMasterUserPassword": True,
            "AutoMinorVersionUpgrade": False,
            "MasterUsername": "shopadmin",
        },
    )
    small.template.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Parameters": Match.object_like(
                {"rds.force_ssl": "1", "log_min_duration_statement": "123"}
            )
        },
    )


def test_database_security_group_has_no_egress(small: DataTier) -> None:
    sg_id = small.stack.resolve(small.database.security_group.security_group_id)["Fn::GetAtt"][0]
    sg = small.template.to_json()["Resources"][sg_id]["Properties"]
    assert sg["SecurityGroupEgress"] == [Match.any_value()] or all(
        rule.get("CidrIp") == "255.255.255.255/32" for rule in sg["SecurityGroupEgress"]
    )


# --- Proxy ---------------------------------------------------------------------------------------


def test_proxy_pool_caps_and_tls_come_from_config(small: DataTier) -> None:
    small.template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "RequireTLS": True,
            "DebugLogging": False,
            "DefaultAuthScheme": "IAM_AUTH",
            "IdleClientTimeout": 600,
            "Auth": Match.absent(),
        },
    )
    small.template.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {
            "TargetGroupName": "default",
            "ConnectionPoolConfigurationInfo": {
                "MaxConnectionsPercent": 70,
                "MaxIdleConnectionsPercent": 20,
                "ConnectionBorrowTimeout": 4,
            },
        },
    )


def test_proxy_role_logs_in_as_the_app_user_through_the_instance(small: DataTier) -> None:
    policies = small.template.find_resources(
        "AWS::IAM::Policy",
        {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("ProxyRole")}]}},
    )
    (policy,) = policies.values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    resource = json.dumps(statement["Resource"])
    assert '":dbuser:", {"Fn::GetAtt": ["DatabaseInstance' in resource
    assert resource.endswith('"/shop_app"]]}')


def test_client_connect_policy_names_the_proxy_resource_id(small: DataTier) -> None:
    policy = _one(small.template, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    resource = json.dumps(statement["Resource"])
    # dbuser:prx-<id>/<user>: the 7th field of the proxy ARN (arn:aws:rds:r:a:db-proxy:prx-...)
    proxy_id = small.stack.get_logical_id(small.proxy.proxy.node.default_child)  # type: ignore[arg-type]
    assert f'{{"Fn::Select": [6, {{"Fn::Split": [":", {{"Fn::GetAtt": ["{proxy_id}"' in resource
    assert resource.endswith('"/shop_app"]]}')


def test_secrets_mode_rotates_the_app_secret_and_reaches_secrets_manager() -> None:
    secrets = replace(SMALL_CONFIG.proxy, auth_mode="secrets")
    tier = _data_tier("SecretsData", SMALL_CONFIG, proxy=secrets)
    t = tier.template
    t.has_resource_properties(
        "AWS::RDS::DBProxy",
        {"Auth": [Match.object_like({"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED"})]},
    )
    t.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {"RotationRules": {"ScheduleExpression": "rate(30 days)"}},
    )
    assert tier.proxy.app_user_secret is not None
    egress = t.find_resources("AWS::EC2::SecurityGroupEgress")
    proxy_sg = tier.stack.resolve(tier.proxy.security_group.security_group_id)
    assert any(
        r["Properties"]["FromPort"] == 443 and r["Properties"]["GroupId"] == proxy_sg
        for r in egress.values()
    )
