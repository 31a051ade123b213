"""The Aurora shape, asserted on the synthesized templates with literal expectations."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import Synthesized, synthesize

from orders import contract
from stacks.app_builder import build_from_context
from stacks.aws_facts import RDS_ARN_FORMATS, RDS_PROXY_ENDPOINT_IAM_RESOURCE_ID
from stacks.outputs import CLUSTER_DATA_OUTPUTS
from tests.fixture_config import SMALL, aurora_context

pytestmark = pytest.mark.infra

WRITER, READERS = "DatabaseClusterWriter", ("DatabaseClusterReader1", "DatabaseClusterReader2")


@pytest.fixture(scope="module")
def serverless() -> Synthesized:
    """Serverless v2 1..8 ACU, two readers, a read-only proxy endpoint."""
    context = aurora_context(SMALL, proxy={"read_only_endpoint": True})
    return synthesize(build_from_context(context, SMALL))


@pytest.fixture(scope="module")
def provisioned() -> Synthesized:
    """r6g.large writer, two r6g.xlarge readers, no read-only endpoint."""
    context = aurora_context(
        SMALL,
        instance_class="r6g.large",
        reader_class="r6g.xlarge",
        serverless_min_acu=None,
        serverless_max_acu=None,
    )
    return synthesize(build_from_context(context, SMALL))


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _one(template: dict[str, Any], type_: str) -> dict[str, Any]:
    (resource,) = _of_type(template, type_).values()
    return resource


def test_the_cluster_is_aurora_postgresql_encrypted_iam_auth_and_logged(
    serverless: Synthesized,
) -> None:
    data = serverless.data.to_json()
    cluster = data["Resources"]["DatabaseCluster"]
    props = cluster["Properties"]
    assert cluster["Type"] == "AWS::RDS::DBCluster"
    assert (props["Engine"], props["EngineVersion"]) == ("aurora-postgresql", "17.9")
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert props["ManageMasterUserPassword"] is True
    assert props["EnableCloudwatchLogsExports"] == ["postgresql", "iam-db-auth-error"]
    assert props["DatabaseInsightsMode"] == "standard"
    assert props["DeletionProtection"] is False  # the fixture: destroyable
    assert cluster["DeletionPolicy"] == "Delete"
    assert props["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 1, "MaxCapacity": 8}
    assert _of_type(data, "AWS::RDS::DBInstance").keys() == {WRITER, *READERS}


def test_the_cluster_parameter_group_requires_tls(serverless: Synthesized) -> None:
    data = serverless.data.to_json()
    (group_id, group) = _of_type(data, "AWS::RDS::DBClusterParameterGroup").popitem()
    assert group["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    assert group["Properties"]["Family"] == "aurora-postgresql17"
    cluster = data["Resources"]["DatabaseCluster"]["Properties"]
    assert cluster["DBClusterParameterGroupName"] == {"Ref": group_id}


def test_the_cluster_keeps_its_logical_ids(serverless: Synthesized) -> None:
    data = serverless.data.to_json()
    assert data["Resources"]["DatabaseCluster"]["Type"] == "AWS::RDS::DBCluster"
    assert _of_type(data, "AWS::RDS::DBProxyEndpoint").keys() == {"DatabaseProxyReadOnlyEndpoint"}
    assert _of_type(data, "AWS::RDS::DBProxy").keys() == {"DatabaseProxy"}
    assert _of_type(data, "AWS::KMS::Key").keys() == {"DataKey", "LogsKey"}


def test_serverless_instances_join_the_cluster(serverless: Synthesized) -> None:
    instances = _of_type(serverless.data.to_json(), "AWS::RDS::DBInstance")
    for logical_id, instance in instances.items():
        props = instance["Properties"]
        assert props["DBInstanceClass"] == "db.serverless", logical_id
        assert props["DBClusterIdentifier"] == {"Ref": "DatabaseCluster"}, logical_id
        assert props["PubliclyAccessible"] is False, logical_id
        assert props["AutoMinorVersionUpgrade"] is False, logical_id
    # Readers in tier 1 scale with the writer: a failover lands on an instance of its size.
    assert [instances[r]["Properties"]["PromotionTier"] for r in READERS] == [1, 1]


def test_provisioned_classes_and_no_serverless_scaling(provisioned: Synthesized) -> None:
    data = provisioned.data.to_json()
    classes = {
        k: r["Properties"]["DBInstanceClass"]
        for k, r in _of_type(data, "AWS::RDS::DBInstance").items()
    }
    assert classes == {
        WRITER: "db.r6g.large",
        READERS[0]: "db.r6g.xlarge",
        READERS[1]: "db.r6g.xlarge",
    }
    assert (
        "ServerlessV2ScalingConfiguration" not in data["Resources"]["DatabaseCluster"]["Properties"]
    )
    assert _of_type(data, "AWS::RDS::DBProxyEndpoint") == {}
    assert "ProxyReadOnlyEndpoint" not in data["Outputs"]


def test_the_proxy_targets_the_cluster_after_every_instance_and_the_bootstrap(
    serverless: Synthesized,
) -> None:
    group = _one(serverless.data.to_json(), "AWS::RDS::DBProxyTargetGroup")
    assert group["Properties"]["DBClusterIdentifiers"] == [{"Ref": "DatabaseCluster"}]
    assert "DBInstanceIdentifiers" not in group["Properties"]
    # aws-cdk#31304: every instance, not only the cluster; the app user exists first.
    assert {"DatabaseCluster", WRITER, *READERS, "AppUserBootstrap"} <= set(group["DependsOn"])


def test_the_read_only_endpoint_uses_the_proxys_group_and_subnets(
    serverless: Synthesized,
) -> None:
    data = serverless.data.to_json()
    endpoint = _one(data, "AWS::RDS::DBProxyEndpoint")["Properties"]
    proxy = data["Resources"]["DatabaseProxy"]["Properties"]
    assert endpoint["TargetRole"] == "READ_ONLY"
    assert endpoint["DBProxyName"] == {"Ref": "DatabaseProxy"}
    assert endpoint["VpcSecurityGroupIds"] == proxy["VpcSecurityGroupIds"]
    assert endpoint["VpcSubnetIds"] == proxy["VpcSubnetIds"]
    assert set(data["Outputs"]) >= {"ProxyReadOnlyEndpoint", "DbClusterIdentifier"}
    assert "DbInstanceIdentifier" not in data["Outputs"]
    # every output make smoke requires of an Aurora data stack
    assert set(CLUSTER_DATA_OUTPUTS) <= set(data["Outputs"])


def _read_hosts(synth: Synthesized) -> dict[str, Any]:
    """Handler -> DB_READ_HOST (None when unset) of every function that has a DB_HOST."""
    found: dict[str, Any] = {}
    for template in (synth.data.to_json(), synth.service.to_json()):
        for fn in _of_type(template, "AWS::Lambda::Function").values():
            env = fn["Properties"].get("Environment", {}).get("Variables", {})
            if "DB_HOST" in env:
                found[fn["Properties"]["Handler"]] = env.get("DB_READ_HOST")
    return found


def test_only_the_api_and_direct_functions_read_through_the_read_only_endpoint(
    serverless: Synthesized,
) -> None:
    hosts = _read_hosts(serverless)
    assert hosts["orders.handlers.migrate.handler"] is None
    data = serverless.data.to_json()
    (export,) = [
        o["Export"]["Name"]
        for o in data["Outputs"].values()
        if "Export" in o
        and o["Value"] == {"Fn::GetAtt": ["DatabaseProxyReadOnlyEndpoint", "Endpoint"]}
    ]
    for handler in ("orders.handlers.api.handler", "orders.handlers.direct.handler"):
        assert hosts[handler] == {"Fn::ImportValue": export}, handler


# --- every function given DB_READ_HOST can reach the read-only endpoint and log in to it ------
# Derived from the two templates (the service stack's imports followed to the data stack's
# exports), not from the configuration: the API function's path is never probed live (make
# smoke asks the direct function only), so this is its proof.


def _imports_followed(synth: Synthesized) -> Any:
    """A function that replaces each Fn::ImportValue in a value by the exporting output's value
    (a data-stack reference)."""
    exports = {
        o["Export"]["Name"]: o["Value"]
        for o in synth.data.to_json()["Outputs"].values()
        if "Export" in o
    }

    def follow(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Fn::ImportValue"}:
            return exports[value["Fn::ImportValue"]]
        if isinstance(value, dict):
            return {k: follow(v) for k, v in value.items()}
        if isinstance(value, list):
            return [follow(v) for v in value]
        return value

    return follow


def _group_ids(refs: list[Any]) -> set[str]:
    """Logical ids of security groups referenced as {"Fn::GetAtt": [id, "GroupId"]}."""
    assert all(set(r) == {"Fn::GetAtt"} and r["Fn::GetAtt"][1] == "GroupId" for r in refs), refs
    return {r["Fn::GetAtt"][0] for r in refs}


def _rules(synth: Synthesized, direction: str) -> list[dict[str, Any]]:
    """Every ingress or egress rule of both stacks (standalone and inline), imports followed,
    each with its GroupId."""
    follow, rules = _imports_followed(synth), []
    for template in (synth.data.to_json(), synth.service.to_json()):
        for rule in _of_type(template, f"AWS::EC2::Security{direction}").values():
            rules.append(follow(rule["Properties"]))
        for group_id, group in _of_type(template, "AWS::EC2::SecurityGroup").items():
            for rule in group["Properties"].get(f"Security{direction}", []):
                rules.append({**rule, "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]}})
    return rules


def _opens(rule: dict[str, Any], group: str, peer_key: str, peer: str, port: int) -> bool:
    return (
        rule["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
        and rule.get(peer_key) == {"Fn::GetAtt": [peer, "GroupId"]}
        and rule["IpProtocol"] == "tcp"
        and rule["FromPort"] <= port <= rule["ToPort"]
    )


def _connect_resources(synth: Synthesized, role: str) -> list[Any]:
    """The rds-db:connect resources of a service-stack role (managed policies followed to the
    data stack, inline policies in the service stack)."""
    follow = _imports_followed(synth)
    data, service = synth.data.to_json(), synth.service.to_json()
    documents = [
        data["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
        for arn in follow(service["Resources"][role]["Properties"].get("ManagedPolicyArns", []))
        if "Ref" in arn
    ] + [
        policy["Properties"]["PolicyDocument"]
        for policy in _of_type(service, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
    ]
    return [
        statement["Resource"]
        for document in documents
        for statement in document["Statement"]
        if statement["Effect"] == "Allow" and statement["Action"] == "rds-db:connect"
    ]


def test_every_function_with_a_read_host_can_reach_and_log_in_to_the_read_only_endpoint(
    serverless: Synthesized,
) -> None:
    data, service, follow = (
        serverless.data.to_json(),
        serverless.service.to_json(),
        _imports_followed(serverless),
    )
    (endpoint_id,) = [
        k
        for k, r in _of_type(data, "AWS::RDS::DBProxyEndpoint").items()
        if r["Properties"]["TargetRole"] == "READ_ONLY"
    ]
    endpoint = data["Resources"][endpoint_id]["Properties"]
    proxy_id = endpoint["DBProxyName"]["Ref"]
    proxy = data["Resources"][proxy_id]["Properties"]
    readers = {
        fn["Properties"]["Handler"]: fn["Properties"]
        for template in (data, service)
        for fn in _of_type(template, "AWS::Lambda::Function").values()
        if contract.DB_READ_HOST.name
        in fn["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert set(readers) == {contract.HANDLERS[contract.API], contract.HANDLERS[contract.DIRECT]}
    # (2) the endpoint is in the proxy's security groups (and subnets)
    proxy_groups = _group_ids(proxy["VpcSecurityGroupIds"])
    assert _group_ids(endpoint["VpcSecurityGroupIds"]) == proxy_groups
    assert endpoint["VpcSubnetIds"] == proxy["VpcSubnetIds"]
    vpc_of = lambda subnet: data["Resources"][subnet["Ref"]]["Properties"]["VpcId"]["Ref"]  # noqa: E731
    ingress, egress = _rules(serverless, "GroupIngress"), _rules(serverless, "GroupEgress")
    # the client's dbuser resource: the proxy's resource id, the last field of its ARN
    resource_id_field = RDS_ARN_FORMATS.value["proxy"].split(":").index("{name}")
    assert RDS_PROXY_ENDPOINT_IAM_RESOURCE_ID.value.startswith("prx-")
    for handler, fn in readers.items():
        env = fn["Environment"]["Variables"]
        # (1) DB_READ_HOST is the read-only endpoint's address
        assert follow(env[contract.DB_READ_HOST.name]) == {"Fn::GetAtt": [endpoint_id, "Endpoint"]}
        # and DB_HOST the default endpoint's, behind the same groups and IAM resource
        assert follow(env[contract.DB_HOST.name]) == {"Fn::GetAtt": [proxy_id, "Endpoint"]}
        # its subnets are in the endpoint's VPC
        assert {vpc_of(s) for s in follow(fn["VpcConfig"]["SubnetIds"])} == {
            vpc_of(s) for s in endpoint["VpcSubnetIds"]
        }, handler
        # (3) the proxy's group admits the function's on the port it connects to, and the
        # function's group (outbound restricted) lets it out
        port, groups = (
            int(env[contract.DB_PORT.name]),
            _group_ids(fn["VpcConfig"]["SecurityGroupIds"]),
        )
        assert any(
            _opens(r, p, "SourceSecurityGroupId", g, port)
            for r in ingress
            for p in proxy_groups
            for g in groups
        ), handler
        assert any(
            _opens(r, g, "DestinationSecurityGroupId", p, port)
            for r in egress
            for p in proxy_groups
            for g in groups
        ), handler
        # (4) its role may connect through the proxy as the user it connects as
        parts = [
            r["Fn::Join"][1] for r in _connect_resources(serverless, fn["Role"]["Fn::GetAtt"][0])
        ]
        assert [
            ":dbuser:",
            {
                "Fn::Select": [
                    resource_id_field,
                    {"Fn::Split": [":", {"Fn::GetAtt": [proxy_id, "DBProxyArn"]}]},
                ]
            },
            f"/{env[contract.DB_USER.name]}",
        ] in [p[-3:] for p in parts], handler


def test_postgres_has_no_reader_endpoint(synthesized: dict[str, Synthesized]) -> None:
    built = synthesized[SMALL]
    assert set(_read_hosts(built).values()) == {None}
    assert _of_type(built.data.to_json(), "AWS::RDS::DBProxyEndpoint") == {}


def test_the_proxy_role_logs_in_to_the_cluster_resource_id(serverless: Synthesized) -> None:
    data = serverless.data.to_json()
    role_ref = data["Resources"]["DatabaseProxy"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = [
        p
        for p in _of_type(data, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_ref}]
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    parts = statement["Resource"]["Fn::Join"][1]
    # arn:<partition>:rds-db:<region>:<account>:dbuser:cluster-<id>/<user>: the id attribute is
    # DBClusterResourceId (it starts with "cluster-"), not the instance's DbiResourceId.
    assert parts[-3:] == [
        ":dbuser:",
        {"Fn::GetAtt": ["DatabaseCluster", "DBClusterResourceId"]},
        "/shop_app",
    ]


# --- operations ---------------------------------------------------------------------------------


def _alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        k: r["Properties"]
        for k, r in _of_type(synth.service.to_json(), "AWS::CloudWatch::Alarm").items()
    }


def _dims(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def test_proxy_availability_is_watched_per_role(serverless: Synthesized) -> None:
    roles = sorted(
        _dims(a)["TargetRole"]
        for a in _alarms(serverless).values()
        if a.get("MetricName") == "AvailabilityPercentage"
    )
    # CloudWatch's values (READWRITE without underscore), not the API's READ_WRITE.
    assert roles == ["READWRITE", "READ_ONLY"]


def test_replica_lag_alarms_on_the_worst_reader_by_role(serverless: Synthesized) -> None:
    (lag,) = [a for a in _alarms(serverless).values() if a.get("MetricName") == "AuroraReplicaLag"]
    assert lag["Namespace"] == "AWS/RDS"
    assert lag["Statistic"] == "Maximum"
    dims = _dims(lag)
    assert dims["Role"] == "READER"
    assert set(dims) == {"DBClusterIdentifier", "Role"}
    assert lag["ComparisonOperator"] == "GreaterThanThreshold"
    assert lag["Threshold"] == 1000  # monitoring.replica_lag_ms_threshold default


def test_the_writer_is_watched_by_role_and_there_is_no_storage_alarm(
    serverless: Synthesized,
) -> None:
    alarms = _alarms(serverless).values()
    by_metric = {a.get("MetricName"): a for a in alarms}
    assert "FreeStorageSpace" not in by_metric  # Aurora publishes none
    for metric in ("CPUUtilization", "DatabaseConnections"):
        dims = _dims(by_metric[metric])
        assert dims["Role"] == "WRITER", metric
        assert "DBInstanceIdentifier" not in dims, metric


def test_rds_events_reach_the_alarm_topic(serverless: Synthesized) -> None:
    service = serverless.service.to_json()
    subscriptions = {
        s["Properties"]["SourceType"]: s["Properties"]
        for s in _of_type(service, "AWS::RDS::EventSubscription").values()
    }
    assert set(subscriptions) == {"db-cluster", "db-instance"}
    (topic_id,) = _of_type(service, "AWS::SNS::Topic")
    for source, props in subscriptions.items():
        assert props["SnsTopicArn"] == {"Ref": topic_id}, source
    # An Aurora failover is a cluster event (RDS-EVENT-0069..0073); Aurora's instance events have
    # no "failover" category, but CT.RDS.PR.17 requires these three of an instance subscription.
    assert "failover" in subscriptions["db-cluster"]["EventCategories"]
    instance_categories = set(subscriptions["db-instance"]["EventCategories"])
    assert {"failure", "maintenance", "configuration change"} <= instance_categories
    assert "failover" not in instance_categories
    assert len(subscriptions["db-cluster"]["SourceIds"]) == 1
    assert len(subscriptions["db-instance"]["SourceIds"]) == 3  # writer + two readers
    (policy,) = _of_type(service, "AWS::SNS::TopicPolicy").values()
    (rds_statement,) = [
        st
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st.get("Principal") == {"Service": "events.rds.amazonaws.com"}
    ]
    assert rds_statement["Action"] == "sns:Publish"
    assert set(rds_statement["Condition"]) == {"StringEquals", "ArnLike"}
    keys = _of_type(service, "AWS::KMS::Key").values()
    assert any(
        st.get("Principal") == {"Service": "events.rds.amazonaws.com"}
        for key in keys
        for st in key["Properties"]["KeyPolicy"]["Statement"]
    )


def test_the_dashboard_shows_writer_and_reader_pools(serverless: Synthesized) -> None:
    (dashboard,) = _of_type(serverless.service.to_json(), "AWS::CloudWatch::Dashboard").values()
    body = "".join(
        p if isinstance(p, str) else "<token>"
        for p in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    )
    for role in ("READWRITE", "READ_ONLY"):
        assert f'"TargetRole","{role}",{{"label":"DatabaseConnections"' in body, role
        assert f'"TargetRole","{role}",{{"label":"Allowed"' in body, role
    assert '"title":"Aurora alarms"' in body
