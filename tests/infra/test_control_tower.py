"""Control Tower proactive controls (cdk-validator-cfnguard) as the second synth gate.

The session builds (fixture environments, every cdk.json environment, secrets mode) run the gate
as `make synth` does; a finding nobody acknowledged fails them. Here: the findings acknowledged
are exactly those the configuration explains, each acknowledgment takes a finding, the
properties the rules cannot read through an intrinsic are really there, the fixes hold in the
templates (logs keys and their policy as IAM evaluates it, the grant restriction, enhanced
monitoring, retention), the controls' data matches the rules the plugin bundles, and
docs/infra.md's table is current.
"""

from __future__ import annotations

import importlib.util
import re
import tarfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_cdk import (
    App,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Stack,
    Validations,
)
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from iam_eval import Environment, Principal, allowed, explicitly_denied
from infra_support import Synthesized, build_fixture

from orders.contract import ROUTES
from stacks import control_tower, control_tower_doc
from stacks.aws_facts import RDS_POSTGRES_LOG_EXPORTS
from stacks.config import AppConfig
from stacks.control_tower_doc import Resource, resource_of
from stacks.loader import environment_names, load
from tests.fixture_config import SMALL

pytestmark = pytest.mark.infra

ENV = Environment()
LOGS_PRINCIPAL = f"logs.{ENV.region}.amazonaws.com"
LOGS_CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"
# A role of the account (the deployer), which the key policies' account statement covers.
DEPLOYER = Principal(arn=f"arn:aws:iam::{ENV.account}:role/deployer")
Finding = tuple[Resource, str]  # (resource, control id)

_DB = ("Data", "Database/Instance")
ALWAYS_ACKNOWLEDGED: set[Finding] = {
    (_DB, "CT.RDS.PR.5"),
    (_DB, "CT.RDS.PR.14"),
    (_DB, "CT.RDS.PR.20"),
    (("Data", "Custom::VpcRestrictDefaultSGCustomResourceProvider/Handler"), "CT.LAMBDA.PR.3"),
    (("Data", "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"), "CT.LAMBDA.PR.3"),
    (("Data", "Migration/Provider/framework-onEvent"), "CT.LAMBDA.PR.3"),
    (("Service", "Functions/Api"), "CT.LAMBDA.PR.3"),
    (("Service", "Functions/Direct"), "CT.LAMBDA.PR.3"),
    *{
        (
            (
                "Service",
                f"Api/HttpApi/{route.method}{route.path.replace('/', '--')}/Orders-Permission",
            ),
            "CT.LAMBDA.PR.2",
        )
        for route in ROUTES
    },
}
# The config key that keeps each log group, and the log groups it keeps.
LOG_GROUPS: dict[tuple[str, str], list[Resource]] = {
    ("network", "flow_log_retention_days"): [("Data", "Network/FlowLogGroup")],
    ("functions", "log_retention_days"): [
        ("Data", "Migration/FunctionLogGroup"),
        ("Data", "Migration/ProviderLogGroup"),
        ("Service", "Functions/ApiLogGroup"),
        ("Service", "Functions/DirectLogGroup"),
    ],
    ("api", "access_log_retention_days"): [("Service", "Api/AccessLogs")],
}


def _aurora_acknowledged(config: AppConfig) -> set[Finding]:
    """An Aurora cluster: its instances (Writer, Reader1, ...) and the cluster itself."""
    db = config.database
    cluster = ("Data", "Database/Cluster")
    instances = [
        ("Data", f"Database/Cluster/{name}")
        for name in ("Writer", *(f"Reader{n}" for n in range(1, db.readers + 1)))
    ]
    found: set[Finding] = {(cluster, "CT.RDS.PR.25")}
    found |= {(instance, "CT.RDS.PR.5") for instance in instances}
    if db.monitoring_interval_s == 0:
        found |= {(instance, "CT.RDS.PR.2") for instance in instances}
    if not db.deletion_protection:
        found.add((cluster, "CT.RDS.PR.3"))
    return found


def expected_acknowledged(config: AppConfig) -> set[Finding]:
    """The findings a configuration explains, and only those."""
    found = set(ALWAYS_ACKNOWLEDGED)
    for (section, key), groups in LOG_GROUPS.items():
        if getattr(getattr(config, section), key) < 365:
            found |= {(group, "CT.CLOUDWATCH.PR.2") for group in groups}
    db = config.database
    if db.is_aurora:
        instance_only = {(_DB, c) for c in ("CT.RDS.PR.5", "CT.RDS.PR.14", "CT.RDS.PR.20")}
        return (found - instance_only) | _aurora_acknowledged(config)
    conditional = {
        "CT.RDS.PR.1": not db.multi_az,
        "CT.RDS.PR.2": db.monitoring_interval_s == 0,
        "CT.RDS.PR.8": db.backup_retention_days < 7,
        "CT.RDS.PR.13": not db.deletion_protection,
    }
    return found | {(_DB, control) for control, applies in conditional.items() if applies}


def gate_report(synth: Synthesized) -> dict[str, Any]:
    (report,) = [
        plugin
        for plugin in synth.validation_report["pluginReports"]
        if plugin["pluginName"] == control_tower.PLUGIN
    ]
    return report


def acknowledgments_recorded(synth: Synthesized) -> set[tuple[Resource, str]]:
    """(where, rule) of every Control Tower acknowledgment in the app."""
    prefix = f"{control_tower.PLUGIN}::"
    return {
        (resource_of(path + "/"), rule.removeprefix(prefix))
        for path, rule in synth.acknowledgments
        if rule.startswith(prefix)
    }


def _check_gate(synth: Synthesized) -> None:
    report = gate_report(synth)
    # THEN the gate ran, found nothing unacknowledged, and acknowledged exactly what the
    # configuration explains
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    found = control_tower_doc.acknowledged(synth.validation_report)
    assert set(found) == expected_acknowledged(synth.built.config)
    # every acknowledgment took a finding where it stands (none left over from a fix)
    taken = {
        (resource_of(v["acknowledgedAt"] + "/"), v["ruleName"])
        for v in report["suppressedViolations"]
    }
    assert acknowledgments_recorded(synth) == taken


def test_fixture_environments_pass_the_gate(synth: Synthesized) -> None:
    _check_gate(synth)


def test_every_cdk_json_environment_passes_the_gate(shipped: Synthesized) -> None:
    _check_gate(shipped)


def test_secrets_mode_passes_the_gate(secrets_mode: Synthesized) -> None:
    # the app-user secret, its attachment and rotation schedule add no finding (the hosted
    # rotation function comes from a transform at deploy time, in the VPC)
    assert secrets_mode.data.find_resources("AWS::SecretsManager::RotationSchedule")
    _check_gate(secrets_mode)


def test_every_acknowledgment_names_a_compensating_control(synth: Synthesized) -> None:
    for (resource, control), reason in control_tower_doc.acknowledged(
        synth.validation_report
    ).items():
        assert "compensating control" in reason, (resource, control)
        assert len(reason) > 120, (resource, control)


def test_acknowledgments_are_not_stack_wide(synth: Synthesized) -> None:
    for (_, path), rule in acknowledgments_recorded(synth):
        assert path, rule


def test_gate_fails_synth_on_a_new_finding() -> None:
    # GIVEN a gated build with a log group that has no key
    built = build_fixture(SMALL, control_tower_gate=True)
    logs.LogGroup(built.data, "Plain", retention=logs.RetentionDays.ONE_YEAR)
    # THEN synthesis fails and names the control
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*CT\.CLOUDWATCH\.PR\.3"):
        Template.from_stack(built.data)


def test_gate_fails_synth_on_a_new_finding_with_its_verdict_kept_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Guard's verdicts kept in an empty directory
    monkeypatch.setenv(control_tower.CACHE_DIR_ENV, str(tmp_path))
    for _ in range(2):  # WHEN the same template is synthesized twice (the second from the cache)
        # (a stack of just the finding, under the gate as app_builder registers it: the test
        # above fails the full build the same way)
        app = App()
        stack = Stack(app, "Data")
        logs.LogGroup(stack, "Plain", retention=logs.RetentionDays.ONE_YEAR)
        Validations.of(app).add_plugins(control_tower.validator())
        # THEN both fail on the finding
        with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*CT\.CLOUDWATCH\.PR\.3"):
            Template.from_stack(stack)
    assert len(list(tmp_path.glob("*.json"))) == 1


class _Guard:
    """A stand-in for the Guard plugin: one finding on the first template, calls counted."""

    name, version, rule_ids = "cdk-validator-cfnguard", "0.0.62", ["cloudwatchpr3"]

    def __init__(self) -> None:
        self.calls = 0

    def validate(self, context: Any) -> PolicyValidationPluginReport:
        self.calls += 1
        resource = PolicyViolatingResource(
            locations=["/Resources/Plain"], resource_logical_id="Plain",
            template_path=context.template_paths[0],
        )  # fmt: skip
        finding = PolicyViolation(
            description="log group not encrypted", rule_name="cloudwatch_log_group_encrypted_check",
            violating_resources=[resource], fix="set KmsKeyId",
        )  # fmt: skip
        return PolicyValidationPluginReport(success=False, violations=[finding])


def _synth_dir(root: Path, name: str, body: str) -> list[str]:
    (root / name).mkdir()
    template = root / name / "App-Data.template.json"
    template.write_text(body)
    return [str(template)]


def test_a_kept_verdict_is_the_same_findings_on_this_synths_templates(tmp_path: Path) -> None:
    guard = _Guard()
    plugin = control_tower._FindingsAreErrors(guard, control_tower.GuardCache(tmp_path / "kept"))  # type: ignore[arg-type]
    first = plugin.validate(SimpleNamespace(template_paths=_synth_dir(tmp_path, "a", "{}")))
    # the same bytes in another synth directory: not run again, found at the new path
    paths = _synth_dir(tmp_path, "b", "{}")
    again = plugin.validate(SimpleNamespace(template_paths=paths))
    assert guard.calls == 1
    assert again.success is first.success is False
    ((violation,),) = [again.violations]
    assert violation.severity == "error"  # marked, as a fresh run's is
    assert violation.rule_name == "cloudwatch_log_group_encrypted_check"
    assert violation.fix == "set KmsKeyId"
    ((resource,),) = [violation.violating_resources]
    assert (resource.template_path, resource.resource_logical_id) == (paths[0], "Plain")
    assert list(resource.locations) == ["/Resources/Plain"]
    # one byte changed: Guard runs again
    plugin.validate(SimpleNamespace(template_paths=_synth_dir(tmp_path, "c", "{ }")))
    assert guard.calls == 2


def test_an_empty_cache_setting_runs_guard_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(control_tower.CACHE_DIR_ENV, "")
    assert control_tower.GuardCache.from_environment().directory is None
    monkeypatch.delenv(control_tower.CACHE_DIR_ENV)
    assert control_tower.GuardCache.from_environment().directory == control_tower.DEFAULT_CACHE_DIR
    guard = _Guard()
    plugin = control_tower._FindingsAreErrors(guard, control_tower.GuardCache(None))  # type: ignore[arg-type]
    for name in ("a", "b"):
        plugin.validate(SimpleNamespace(template_paths=_synth_dir(tmp_path, name, "{}")))
    assert guard.calls == 2


def test_builds_without_the_gate_skip_it() -> None:
    # The tests' small builds: the same finding passes (cdk-nag still runs).
    built = build_fixture(SMALL)
    logs.LogGroup(built.data, "Plain", retention=logs.RetentionDays.ONE_YEAR)
    Template.from_stack(built.data)


@pytest.mark.parametrize(
    ("value", "enabled"), [(None, True), (True, True), (False, False), ("false", False)]
)
def test_the_context_key_turns_the_gate_off_only_when_false(value: object, enabled: bool) -> None:
    assert control_tower.gate_enabled(value) is enabled


# --- what the rules cannot read through an intrinsic, asserted ----------------------------------


def test_service_functions_are_in_the_data_stacks_app_subnets(synth: Synthesized) -> None:
    # CT.LAMBDA.PR.3 reads Fn::ImportValue subnets as missing: follow each import to its export.
    data = synth.data.to_json()
    exports = {
        out["Export"]["Name"]: out["Value"]
        for out in data["Outputs"].values()
        if isinstance(out.get("Export", {}).get("Name"), str)
    }
    functions = synth.service.find_resources("AWS::Lambda::Function")
    assert len(functions) == 2
    for logical_id, fn in functions.items():
        vpc = fn["Properties"]["VpcConfig"]
        subnets = [exports[s["Fn::ImportValue"]]["Ref"] for s in vpc["SubnetIds"]]
        assert len(subnets) == synth.built.config.network.max_azs, logical_id
        for subnet in subnets:
            resource = data["Resources"][subnet]
            assert resource["Type"] == "AWS::EC2::Subnet"
            assert {"Key": "aws-cdk:subnet-name", "Value": "App"} in resource["Properties"]["Tags"]
        for group in vpc["SecurityGroupIds"]:
            sg = synth.service.to_json()["Resources"][group["Fn::GetAtt"][0]]
            assert sg["Type"] == "AWS::EC2::SecurityGroup", logical_id


def _with_api_id(value: Any, api: str) -> Any:
    if value == {"Ref": api}:
        return "a1b2c3d4e5"
    if isinstance(value, dict):
        return {k: _with_api_id(v, api) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_api_id(v, api) for v in value]
    return value


def test_invoke_permissions_are_scoped_to_this_api_and_route(synth: Synthesized) -> None:
    # CT.LAMBDA.PR.2 reads an Fn::Join SourceArn as missing: resolve it.
    (api,) = synth.service.find_resources("AWS::ApiGatewayV2::Api")
    (api_fn,) = [
        lid
        for lid, fn in synth.service.find_resources("AWS::Lambda::Function").items()
        if fn["Properties"]["Handler"] == "orders.handlers.api.handler"
    ]
    arns = []
    for permission in synth.service.find_resources("AWS::Lambda::Permission").values():
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["FunctionName"] == {"Fn::GetAtt": [api_fn, "Arn"]}
        arns.append(ENV.resolve(_with_api_id(props["SourceArn"], api)))
    assert sorted(arns) == sorted(
        f"arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/*/*{route.path}" for route in ROUTES
    )


# --- the fixes, in the templates ----------------------------------------------------------------

GRANT_RESTRICTION = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "kms:CreateGrant",
    "Resource": "*",
    "Condition": {
        "BoolIfExists": {
            "kms:GrantIsForAWSResource": "false",
            "aws:PrincipalIsAWSService": "false",
        }
    },
}


def _keys(synth: Synthesized) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for template in (synth.data, synth.service):
        for logical_id, key in template.find_resources("AWS::KMS::Key").items():
            yield logical_id, ENV.resolve(key["Properties"]["KeyPolicy"]["Statement"])


def test_every_key_restricts_grants_to_aws_services(shipped: Synthesized) -> None:
    keys = dict(_keys(shipped))
    assert len(keys) == 4  # data, data logs, service logs, alarm topic
    for logical_id, statements in keys.items():
        restriction = [
            {k: v for k, v in s.items() if k != "Sid"} for s in statements if s["Effect"] == "Deny"
        ]
        assert restriction == [GRANT_RESTRICTION], logical_id


def _grant(*, for_aws_resource: bool) -> dict[str, Any]:
    return {
        "action": "kms:CreateGrant",
        "resource": "*",
        "context": {
            "kms:GrantIsForAWSResource": str(for_aws_resource).lower(),
            "aws:PrincipalIsAWSService": "false",
        },
    }


def test_grants_by_or_for_aws_services_still_work(synth: Synthesized) -> None:
    for logical_id, statements in _keys(synth):
        # RDS creating the storage or Performance Insights grant on the deployer's behalf
        on_behalf = _grant(for_aws_resource=True)
        assert not explicitly_denied(statements, principal=DEPLOYER, **on_behalf), logical_id
        # a service principal making a grant itself
        assert not explicitly_denied(
            statements,
            principal=Principal(service="rds.amazonaws.com"),
            action="kms:CreateGrant",
            resource="*",
            context={"aws:PrincipalIsAWSService": "true"},
        ), logical_id
        # the key's other uses are untouched (Secrets Manager, Logs, SNS use the key policy)
        assert not explicitly_denied(
            statements, principal=DEPLOYER, action="kms:Decrypt", resource="*", context={}
        ), logical_id


def test_a_principal_granting_itself_is_refused(synth: Synthesized) -> None:
    for logical_id, statements in _keys(synth):
        direct = _grant(for_aws_resource=False)
        assert explicitly_denied(statements, principal=DEPLOYER, **direct), logical_id
        assert not allowed(statements, principal=DEPLOYER, **direct), logical_id


def _log_groups(template: Template) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = template.find_resources("AWS::Logs::LogGroup")
    return groups


def _logs_key_statements(template: Template) -> list[dict[str, Any]]:
    """The policy of the one key every log group of the template names (a local GetAtt)."""
    (key_id,) = {
        g["Properties"]["KmsKeyId"]["Fn::GetAtt"][0] for g in _log_groups(template).values()
    }
    key = template.to_json()["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    statements: list[dict[str, Any]] = ENV.resolve(key["Properties"]["KeyPolicy"]["Statement"])
    return statements


def _generated_arn(
    stack: str, logical_id: str, *, region: str = "eu-west-1", account: str = "111122223333"
) -> str:
    # What CloudFormation names an unnamed log group (stack, logical id, random suffix).
    return f"arn:aws:logs:{region}:{account}:log-group:{stack}-{logical_id}-Xy12Ab34Cd56"


def _logs_may(
    statements: list[dict[str, Any]],
    arn: str,
    action: str = "kms:GenerateDataKey",
    principal: str = LOGS_PRINCIPAL,
) -> bool:
    return allowed(
        statements, service=principal, action=action, resource="*", context={LOGS_CONTEXT_KEY: arn}
    )


def test_logs_keys_serve_exactly_their_stacks_log_groups(synth: Synthesized) -> None:
    stacks = {
        synth.built.data.stack_name: synth.data,
        synth.built.service.stack_name: synth.service,
    }
    keys = {name: _logs_key_statements(template) for name, template in stacks.items()}
    for name, template in stacks.items():
        (other,) = set(stacks) - {name}
        for logical_id in _log_groups(template):
            arn = _generated_arn(name, logical_id)
            # THEN CloudWatch Logs may use the stack's key for its own log group
            for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"):
                assert _logs_may(keys[name], arn, action), (name, logical_id, action)
            # and not the other stack's key, nor this one for the other stack's group
            assert not _logs_may(keys[other], arn), (name, logical_id)
            assert not _logs_may(keys[name], _generated_arn(other, logical_id))
            # nor for the same name in another account or region, nor without the context
            assert not _logs_may(
                keys[name], _generated_arn(name, logical_id, account="444455556666")
            )
            assert not _logs_may(
                keys[name],
                _generated_arn(name, logical_id, region="eu-central-1"),
                principal="logs.eu-central-1.amazonaws.com",
            )
            assert not allowed(
                keys[name], service=LOGS_PRINCIPAL, action="kms:Decrypt", resource="*", context={}
            )


PROTECTED = [name for name in environment_names() if load(name).database.deletion_protection]


@pytest.mark.parametrize("name", PROTECTED)
def test_a_protected_profile_meets_the_controls_in_its_template(
    shipped_apps: dict[str, Synthesized], name: str
) -> None:
    synth = shipped_apps[name]
    # every log group encrypted with a key of its own template, kept at least a year
    for template in (synth.data, synth.service):
        keys = template.find_resources("AWS::KMS::Key")
        for logical_id, group in _log_groups(template).items():
            props = group["Properties"]
            assert props["KmsKeyId"]["Fn::GetAtt"][0] in keys, logical_id
            assert props["RetentionInDays"] >= 365, logical_id
    for helper in synth.data.find_resources("Custom::LogRetention").values():
        assert helper["Properties"]["RetentionInDays"] >= 365
    # enhanced monitoring with CDK's role, which only RDS monitoring may assume
    (db,) = synth.data.find_resources("AWS::RDS::DBInstance").values()
    assert db["Properties"]["MonitoringInterval"] > 0
    role = synth.data.to_json()["Resources"][db["Properties"]["MonitoringRoleArn"]["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}


def test_enhanced_monitoring_follows_the_config(synth: Synthesized) -> None:
    (db,) = synth.data.find_resources("AWS::RDS::DBInstance").values()
    interval = synth.built.config.database.monitoring_interval_s
    roles = synth.data.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [{"Principal": {"Service": "monitoring.rds.amazonaws.com"}}]
                }
            }
        },
    )
    if interval:
        assert db["Properties"]["MonitoringInterval"] == interval
        assert db["Properties"]["MonitoringRoleArn"] == {"Fn::GetAtt": [*roles, "Arn"]}
    else:
        assert "MonitoringInterval" not in db["Properties"]
        assert roles == {}


def test_the_instance_exports_every_postgres_log_type(synth: Synthesized) -> None:
    (db,) = synth.data.find_resources("AWS::RDS::DBInstance").values()
    assert db["Properties"]["EnableCloudwatchLogsExports"] == [
        "postgresql",
        "upgrade",
        "iam-db-auth-error",
    ]


# --- the controls' data against the rules the plugin bundles ------------------------------------


@cache
def bundled_rules() -> dict[str, str]:
    """Control id -> text of its Guard rule, read from the installed plugin's jsii tarball."""
    spec = importlib.util.find_spec("cdklabs.cdk_validator_cfnguard")
    assert spec is not None
    assert spec.origin is not None
    (tarball,) = (Path(spec.origin).parent / "_jsii").glob("*.jsii.tgz")
    rules = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.name.endswith(".guard") and "/control-tower/" in member.name:
                text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
                match = re.search(r"\[(CT\.[A-Z0-9]+\.PR\.\d+)\]", text)
                if match:  # a few rules have no control id in their messages
                    rules[match.group(1)] = text
    return rules


@pytest.mark.parametrize("control", control_tower.CONTROLS, ids=lambda c: c.id)
def test_each_control_names_its_bundled_rule(control: control_tower.Control) -> None:
    text = bundled_rules()[control.id]
    assert re.search(rf"^rule {control.rule} when is_cfn_template", text, re.M)
    reports_on = re.search(r"# Reports on:\s*\n#\s+(\S+)", text)
    assert reports_on
    assert reports_on.group(1) == control.resource_type


def test_thresholds_are_the_rules() -> None:
    rules = bundled_rules()
    retention = re.search(r"let MINIMUM_RETENTION_IN_DAYS = (\d+)", rules["CT.CLOUDWATCH.PR.2"])
    assert retention
    assert int(retention.group(1)) == control_tower.MIN_LOG_RETENTION_DAYS == 365
    backups = re.search(r"BackupRetentionPeriod >= (\d+)", rules["CT.RDS.PR.8"])
    assert backups
    assert int(backups.group(1)) == control_tower.MIN_BACKUP_RETENTION_DAYS == 7
    intervals = re.search(r"let ALLOWED_EM_VALUES = \[([^\]]*)\]", rules["CT.RDS.PR.2"])
    assert intervals
    assert intervals.group(1) == "1, 5, 10, 15, 30, 60"


def test_pr14_rejects_only_the_log_type_rds_added_in_2025() -> None:
    # What was found reading the rule: for postgres it requires the export list to be exactly
    # its own list, which predates iam-db-auth-error.
    listed = re.search(
        r"let POSTGRES_SUPPORTED_LOG_TYPES = \[([^\]]*)\]", bundled_rules()["CT.RDS.PR.14"]
    )
    assert listed
    rule_types = {t.strip().strip('"') for t in listed.group(1).split(",")}
    assert rule_types == {"postgresql", "upgrade"}
    assert set(RDS_POSTGRES_LOG_EXPORTS.value) - rule_types == {"iam-db-auth-error"}
    assert rule_types <= set(RDS_POSTGRES_LOG_EXPORTS.value)


# --- docs/infra.md --------------------------------------------------------------------------------


def test_the_docs_table_is_current(shipped_apps: dict[str, Synthesized]) -> None:
    envs = {
        name: control_tower_doc.Environment.of(
            s.validation_report, control_tower_doc.stacks_of(s.built)
        )
        for name, s in shipped_apps.items()
    }
    text = control_tower_doc.INFRA_DOC.read_text()
    wanted = control_tower_doc.replace_block(text, control_tower_doc.render(envs))
    assert wanted == text, "run `make docs` (python -m stacks.control_tower_doc)"


def test_the_table_shows_each_environment_and_groups_alike_resources() -> None:
    # GIVEN a resource acknowledged in one environment and passing in the other
    a, b = ("Data", "Db/Instance"), ("Service", "Api/Logs")
    envs = {
        "one": control_tower_doc.Environment(
            {(a, "CT.RDS.PR.1"): "why, compensating control: x"},
            {"AWS::RDS::DBInstance": [a], "AWS::Logs::LogGroup": [b]},
        ),
        "two": control_tower_doc.Environment(
            {}, {"AWS::RDS::DBInstance": [a], "AWS::Logs::LogGroup": [b]}
        ),
    }
    text = control_tower_doc.render(envs)
    # THEN its row has both statuses and both explanations; a passing resource its own row
    assert (
        "| CT.RDS.PR.1 | Data `Db/Instance` | acknowledged | passes | Passes: "
        "`database.multi_az`. Acknowledged: why, compensating control: x |"
    ) in text
    assert "| CT.CLOUDWATCH.PR.3 | Service `Api/Logs` | passes | passes |" in text
    with pytest.raises(ValueError, match="lacks the markers"):
        control_tower_doc.replace_block("no markers", text)
