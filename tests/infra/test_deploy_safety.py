"""What passes synth but would fail or mislead in a real account: cross-stack references,
deploy ordering, availability zones, Database Insights. Each test fails on the old behaviour."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import Synthesized, build_fixture, synthesize

from stacks.aws_facts import DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS
from stacks.data_stack import STATEFUL_LOGICAL_IDS
from tests.fixture_config import LARGE, SMALL

pytestmark = pytest.mark.infra

# AWS::RDS::DBProxy properties whose change replaces the proxy (CloudFormation reference,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbproxy.html).
PROXY_REPLACEMENT_PROPERTIES = frozenset(
    {
        "DBProxyName",
        "EngineFamily",
        "VpcSubnetIds",
        "EndpointNetworkType",
        "TargetConnectionNetworkType",
    }
)
# "After another stack imports an output value, you can't delete the stack that is exporting the
# output value or modify the exported output value."
EXPORT_IN_USE_DOC = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-importvalue.html"


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def _imports(template: dict[str, Any]) -> set[str]:
    return {
        node["Fn::ImportValue"]
        for node in _walk(template)
        if isinstance(node, dict) and "Fn::ImportValue" in node
    }


def _exports_of(template: dict[str, Any], logical_id: str) -> set[str]:
    """Export names of the outputs whose value references `logical_id`."""
    names = set()
    for output in template.get("Outputs", {}).values():
        if "Export" in output and logical_id in json.dumps(output["Value"]):
            names.add(output["Export"]["Name"])
    return names


# --- cross-stack references -------------------------------------------------------------------


def test_the_service_stack_reads_the_data_stack_through_imports_only(synth: Synthesized) -> None:
    service = synth.service.to_json()
    # A weak reference (Fn::GetStackOutput) leaves the consumer byte-identical when the producer
    # replaces a resource: `cdk deploy --all` skips it and the functions keep a dead endpoint.
    assert "Fn::GetStackOutput" not in json.dumps(service)
    imported = _imports(service)
    exported = {
        o["Export"]["Name"] for o in synth.data.to_json()["Outputs"].values() if "Export" in o
    }
    assert imported
    assert imported <= exported


def test_a_proxy_replacement_is_refused_before_it_strands_the_functions(
    synthesized: dict[str, Synthesized],
) -> None:
    # GIVEN an environment, and the same one with a third AZ: new subnets for the proxy
    before = synthesized[SMALL]
    after = synthesize(build_fixture(SMALL, network={"max_azs": 3}))
    proxy = STATEFUL_LOGICAL_IDS["proxy"]
    old = before.data.to_json()["Resources"][proxy]["Properties"]
    new = after.data.to_json()["Resources"][proxy]["Properties"]
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    # WHEN that change replaces the proxy (CloudFormation: VpcSubnetIds requires replacement)
    assert changed & PROXY_REPLACEMENT_PROPERTIES == {"VpcSubnetIds"}
    # THEN every value the functions take from the proxy is an export the service stack imports,
    # so CloudFormation refuses to change it while in use: the data stack update fails and rolls
    # back before any function points at a deleted proxy (see docs/infra.md: the two-step).
    exports = _exports_of(after.data.to_json(), proxy)
    assert exports
    assert exports <= _imports(after.service.to_json())
    env = json.dumps(
        [
            r["Properties"]["Environment"]
            for r in after.service.to_json()["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and "DB_HOST" in json.dumps(r["Properties"])
        ]
    )
    assert all(name in env for name in exports if "Endpoint" in name)


def test_the_data_stack_description_ignores_service_settings(
    synthesized: dict[str, Synthesized],
) -> None:
    # A data stack whose template changes with a service setting would redeploy (and re-review)
    # the stateful tier for nothing.
    base = synthesized[SMALL].built
    tuned = build_fixture(SMALL, functions={"api_reserved_concurrency": 9, "timeout_s": 15})
    assert base.data.template_options.description == tuned.data.template_options.description


# --- deploy ordering -------------------------------------------------------------------------


def _depends_on(resource: dict[str, Any]) -> set[str]:
    deps = resource.get("DependsOn", [])
    return {deps} if isinstance(deps, str) else set(deps)


def _group_id(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "GroupId"]}


def _bootstrap_and_its_network_path(
    template: dict[str, Any],
) -> tuple[dict[str, Any], dict[tuple[str, str, int], list[str]], set[str]]:
    """The data stack's app-user bootstrap (the roles-step custom resource); the rules of each
    (direction, peer kind, port) between the migration function's security group and the
    database's and the Secrets Manager endpoint's groups; every rule naming the function's
    group. All found through the template's own references."""
    resources = template["Resources"]
    (bootstrap,) = [
        r
        for r in resources.values()
        if r["Type"].startswith("Custom::") and r["Properties"].get("Step") == "roles"
    ]
    (fn,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "orders.handlers.migrate.handler"
    ]
    (fn_group,) = [g["Fn::GetAtt"][0] for g in fn["Properties"]["VpcConfig"]["SecurityGroupIds"]]
    (db,) = [r for r in resources.values() if r["Type"] == "AWS::RDS::DBInstance"]
    (db_group,) = [g["Fn::GetAtt"][0] for g in db["Properties"]["VPCSecurityGroups"]]
    (endpoint,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
        and ".secretsmanager" in json.dumps(r["Properties"]["ServiceName"])
    ]
    (endpoint_group,) = [g["Fn::GetAtt"][0] for g in endpoint["Properties"]["SecurityGroupIds"]]
    rules = {
        lid: (r["Type"], r["Properties"])
        for lid, r in resources.items()
        if r["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
    }
    path: dict[tuple[str, str, int], list[str]] = {}
    for peer_kind, peer, port in (
        ("database", db_group, 5432),
        ("secretsmanager", endpoint_group, 443),
    ):
        for direction, (own, other, other_key) in (
            ("Egress", (fn_group, peer, "DestinationSecurityGroupId")),
            ("Ingress", (peer, fn_group, "SourceSecurityGroupId")),
        ):
            path[(direction, peer_kind, port)] = [
                lid
                for lid, (type_, p) in rules.items()
                if type_ == f"AWS::EC2::SecurityGroup{direction}"
                and p["GroupId"] == _group_id(own)
                and p.get(other_key) == _group_id(other)
                and p["FromPort"] == p["ToPort"] == port
            ]
    naming_fn_group = {lid for lid, (_, p) in rules.items() if _group_id(fn_group) in p.values()}
    return bootstrap, path, naming_fn_group


def _check_bootstrap_waits_for_its_network_path(synth: Synthesized) -> None:
    bootstrap, path, naming_fn_group = _bootstrap_and_its_network_path(synth.data.to_json())
    # To PostgreSQL and to the Secrets Manager endpoint: an egress on the function's group and
    # an ingress on the target's group, one each.
    assert {key: len(lids) for key, lids in path.items()} == {
        ("Egress", "database", 5432): 1,
        ("Ingress", "database", 5432): 1,
        ("Egress", "secretsmanager", 443): 1,
        ("Ingress", "secretsmanager", 443): 1,
    }
    needed = {lid for lids in path.values() for lid in lids}
    assert needed <= naming_fn_group
    missing = naming_fn_group - _depends_on(bootstrap)
    assert not missing, f"the bootstrap does not wait for {sorted(missing)}"
    # Nothing of the function's network path is left in the service stack.
    assert "MigrationFunctionSecurityGroup" not in json.dumps(synth.service.to_json())


def test_migration_waits_for_its_security_group_rules(synth: Synthesized) -> None:
    # The app-user bootstrap runs in the data stack, in the same deploy as the rules that let
    # the migration function reach PostgreSQL and the Secrets Manager endpoint: CloudFormation
    # creates resources in parallel unless ordered, so it must wait for every one of them.
    _check_bootstrap_waits_for_its_network_path(synth)


def test_migration_waits_for_its_security_group_rules_in_secrets_mode(
    secrets_mode: Synthesized,
) -> None:
    _check_bootstrap_waits_for_its_network_path(secrets_mode)


# --- availability zones -----------------------------------------------------------------------


def test_azs_follow_fn_getazs_unless_pinned(synthesized: dict[str, Synthesized]) -> None:
    pinned = build_fixture(SMALL, network={"availability_zones": ["eu-west-1b", "eu-west-1c"]})
    default_azs = synthesized[SMALL].data.find_resources("AWS::EC2::Subnet")
    assert all(
        "Fn::GetAZs" in json.dumps(s["Properties"]["AvailabilityZone"])
        for s in default_azs.values()
    )
    pinned_azs = {
        s["Properties"]["AvailabilityZone"]
        for s in synthesize(pinned).data.find_resources("AWS::EC2::Subnet").values()
    }
    assert pinned_azs == {"eu-west-1b", "eu-west-1c"}


# --- Database Insights (Performance Insights ended 2026-07-31) ------------------------------


@pytest.mark.parametrize(
    ("env", "mode", "days"), [(SMALL, "standard", 7), (LARGE, "advanced", 465)]
)
def test_database_insights_mode_is_explicit(
    synthesized: dict[str, Synthesized], env: str, mode: str, days: int
) -> None:
    (db,) = synthesized[env].data.find_resources("AWS::RDS::DBInstance").values()
    props = db["Properties"]
    assert props["DatabaseInsightsMode"] == mode
    assert props["EnablePerformanceInsights"] is True
    assert props["PerformanceInsightsRetentionPeriod"] == days
    if mode == "advanced":
        assert days >= DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS.value


def test_every_cdk_json_environment_sets_the_insights_mode(shipped: Synthesized) -> None:
    # On the instance, or on the Aurora cluster (its instances inherit it).
    kind = (
        "AWS::RDS::DBCluster" if shipped.built.config.database.is_aurora else "AWS::RDS::DBInstance"
    )
    (db,) = shipped.data.find_resources(kind).values()
    assert db["Properties"]["DatabaseInsightsMode"] in ("standard", "advanced")


def test_a_replaced_database_is_migrated_too(synth: Synthesized) -> None:
    # Each step re-runs when its custom resource's properties change: both must name the
    # database they work on, or a replaced instance (new endpoint) would never get its app
    # user (roles step, data stack) or its schema (schema step, service stack).
    instance = STATEFUL_LOGICAL_IDS["instance"]
    endpoint = {"Fn::GetAtt": [instance, "Endpoint.Address"]}
    data = synth.data.to_json()
    (exported,) = [
        o["Export"]["Name"]
        for o in data["Outputs"].values()
        if "Export" in o and o["Value"] == endpoint
    ]
    expected_host = {"roles": endpoint, "schema": {"Fn::ImportValue": exported}}
    for step, template in (("roles", data), ("schema", synth.service.to_json())):
        (custom,) = [
            r
            for r in template["Resources"].values()
            if r["Type"].startswith("Custom::") and r["Properties"].get("Step") is not None
        ]
        props = custom["Properties"]
        assert props["Step"] == step
        assert props["DB_HOST"] == expected_host[step]
        assert props["DB_NAME"] == synth.built.config.database.database_name
        assert props["DB_PORT"] == "5432"
