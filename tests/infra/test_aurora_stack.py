"""The Aurora shape, asserted on the synthesized templates with literal expectations."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import Synthesized, synthesize

from stacks.app_builder import build_from_context
from stacks.outputs import CLUSTER_DATA_OUTPUTS
from tests.fixture_config import SMALL, aurora_context, fixture_context

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


def test_postgres_has_no_reader_endpoint() -> None:
    built = synthesize(build_from_context(fixture_context(), SMALL))
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
