"""AWS Control Tower proactive controls as a synth gate: the validator and the controls met here.

Control Tower's proactive controls are CloudFormation hooks that refuse a non-compliant resource
at deploy time. The cdklabs validator `cdk-validator-cfnguard` runs the same Guard rules (all of
those it bundles) at synth: stacks/app_builder.py registers it next to cdk-nag, so any finding
that is neither fixed nor acknowledged fails `make synth` and the infra tests. Acknowledgments
sit on the construct they are about (stacks/components/nag.py); docs/infra.md's table of the
controls below is generated from them (`python -m stacks.control_tower_doc`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import (
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
)
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

PLUGIN = "cdk-validator-cfnguard"
# Context key: "false" leaves the validator out of a build. Only the infra tests' many small
# builds set it (the Guard run adds seconds to every synth); `make synth` and the gate tests
# never do.
GATE_CONTEXT_KEY = "control_tower_gate"
# CT.CLOUDWATCH.PR.2: the rule's MINIMUM_RETENTION_IN_DAYS (tests read the bundled rule).
MIN_LOG_RETENTION_DAYS = 365
# CT.RDS.PR.8: the rule's `BackupRetentionPeriod >= 7`.
MIN_BACKUP_RETENTION_DAYS = 7
GUARD_OUTPUT_BUFFER_BYTES = 16 * 1024 * 1024
# Where the Guard verdicts are kept (see GuardCache); set it empty to run Guard every time.
CACHE_DIR_ENV = "CFN_GUARD_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "cfn-guard"


@dataclass(frozen=True)
class Control:
    """One Control Tower proactive control, as the bundled Guard rule names it."""

    id: str
    rule: str
    resource_type: str
    met_by: str

    @property
    def acknowledgment_id(self) -> str:
        """What `Validations.of(scope).acknowledge` takes for this control's findings."""
        return f"{PLUGIN}::{self.rule}"


# The controls the templates failed before the gate existed (issue 19), and how the templates
# meet each where they do; every other bundled rule passes and is not listed.
CONTROLS = (
    Control(
        "CT.CLOUDWATCH.PR.2",
        "cloudwatch_log_group_retention_period_check",
        "AWS::Logs::LogGroup",
        f"retention from config, ≥ {MIN_LOG_RETENTION_DAYS} days",
    ),
    Control(
        "CT.CLOUDWATCH.PR.3",
        "cloudwatch_log_group_encrypted_check",
        "AWS::Logs::LogGroup",
        "`KmsKeyId`: the stack's own logs key (`Logs/Key`), usable by CloudWatch Logs for this "
        "stack's log groups only",
    ),
    Control(
        "CT.KMS.PR.3",
        "kms_create_grant_aws_service_check",
        "AWS::KMS::Key",
        "key policy denies `kms:CreateGrant` unless `kms:GrantIsForAWSResource` or "
        "`aws:PrincipalIsAWSService` is true",
    ),
    Control(
        "CT.LAMBDA.PR.2",
        "lambda_function_public_access_prohibited_check",
        "AWS::Lambda::Permission",
        "`SourceArn` a literal or a local reference",
    ),
    Control(
        "CT.LAMBDA.PR.3",
        "lambda_inside_vpc_check",
        "AWS::Lambda::Function",
        "`VpcConfig`: the App subnets and the function's own security group",
    ),
    Control(
        "CT.RDS.PR.1",
        "rds_instance_multi_az_support_check",
        "AWS::RDS::DBInstance",
        "`database.multi_az`",
    ),
    Control(
        "CT.RDS.PR.2",
        "rds_instance_enhanced_monitoring_enabled_check",
        "AWS::RDS::DBInstance",
        "`database.monitoring_interval_s` > 0 with CDK's monitoring role",
    ),
    Control(
        "CT.RDS.PR.3",
        "rds_cluster_deletion_protection_enabled_check",
        "AWS::RDS::DBCluster",
        "`database.deletion_protection` (Aurora)",
    ),
    Control(
        "CT.RDS.PR.5",
        "rds_instance_automatic_minor_version_upgrade_enabled_check",
        "AWS::RDS::DBInstance",
        "`AutoMinorVersionUpgrade` true",
    ),
    Control(
        "CT.RDS.PR.8",
        "rds_instance_backup_enabled_check",
        "AWS::RDS::DBInstance",
        "`database.backup_retention_days` ≥ 7",
    ),
    Control(
        "CT.RDS.PR.13",
        "rds_instance_deletion_protection_enabled_check",
        "AWS::RDS::DBInstance",
        "`database.deletion_protection`",
    ),
    Control(
        "CT.RDS.PR.14",
        "rds_instance_logging_enabled_check",
        "AWS::RDS::DBInstance",
        "exports exactly the rule's list for the engine",
    ),
    Control(
        "CT.RDS.PR.25",
        "rds_cluster_logging_enabled_check",
        "AWS::RDS::DBCluster",
        "exports exactly the rule's list for the engine (Aurora)",
    ),
    Control(
        "CT.RDS.PR.20",
        "rds_instance_no_default_ports_check",
        "AWS::RDS::DBInstance",
        "a non-default `Port`",
    ),
)
CONTROLS_BY_ID = {control.id: control for control in CONTROLS}


def gate_enabled(context_value: object) -> bool:
    """Whether a build runs the validator: yes unless the context key says false."""
    return context_value not in (False, "false")


class GuardCache:
    """Guard's verdicts on templates it has read, kept as ruff and mypy keep theirs.

    Guard takes seconds per app, and the tests synthesize the same templates on every run. A
    verdict (every finding, acknowledged or not, with where it is) is kept under a key of
    everything it depends on: the plugin's name and version (which pin the Guard binary and the
    bundled rules), the rules it runs, and each template's file name and exact bytes. Any change
    is a new key, so Guard runs again; a fresh checkout (CI) has nothing kept. The findings go
    through CDK's acknowledgments exactly as a fresh run's would: the cache only replaces the
    Guard call. Each entry is written whole (a temporary file, then a rename), so parallel
    synths can share the directory.
    """

    FORMAT = 1

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @classmethod
    def from_environment(cls) -> GuardCache:
        value = os.environ.get(CACHE_DIR_ENV)
        if value == "":
            return cls(None)
        return cls(Path(value) if value else DEFAULT_CACHE_DIR)

    def key(self, plugin: IPolicyValidationPlugin, template_paths: list[str]) -> str:
        templates = sorted(
            (Path(path).name, hashlib.sha256(Path(path).read_bytes()).hexdigest())
            for path in template_paths
        )
        rules = sorted(plugin.rule_ids or [])
        identity = [self.FORMAT, plugin.name, plugin.version, rules, templates]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    def load(self, key: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        try:
            record: dict[str, Any] = json.loads((self.directory / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return record

    def store(self, key: str, record: dict[str, Any]) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.directory, suffix=".tmp", delete=False
        ) as file:
            json.dump(record, file)
        Path(file.name).replace(self.directory / f"{key}.json")


def _record(report: PolicyValidationPluginReport) -> dict[str, Any]:
    """A Guard report as JSON, each template named by its file name (the synth's directory
    differs from run to run)."""
    return {
        "success": report.success,
        "metadata": dict(report.metadata or {}),
        "plugin_version": report.plugin_version,
        "violations": [
            {
                "description": v.description,
                "rule_name": v.rule_name,
                "fix": v.fix,
                "rule_metadata": dict(v.rule_metadata or {}),
                "severity": v.severity,
                "resources": [
                    {
                        "locations": list(r.locations),
                        "logical_id": r.resource_logical_id,
                        "template": Path(r.template_path).name if r.template_path else None,
                    }
                    for r in v.violating_resources
                ],
            }
            for v in report.violations
        ],
    }


def _report(record: dict[str, Any], template_paths: list[str]) -> PolicyValidationPluginReport:
    """The report of `record` for this synth's templates, each finding marked an error."""
    by_name = {Path(path).name: path for path in template_paths}
    return PolicyValidationPluginReport(
        success=record["success"],
        metadata=record["metadata"] or None,
        plugin_version=record["plugin_version"],
        violations=[
            PolicyViolation(
                description=v["description"],
                rule_name=v["rule_name"],
                fix=v["fix"],
                rule_metadata=v["rule_metadata"] or None,
                # The plugin (0.0.62) reports findings without a severity. CDK prints them as
                # errors, but once any finding of a plugin is acknowledged it recomputes that
                # plugin's verdict from the severities of the findings left (aws-cdk-lib 2.275,
                # core/lib/private/synthesis-validation.js, collectSuppressions: success when
                # none is "error" or "fatal"), so an unacknowledged finding next to an
                # acknowledged one would print and not fail synth.
                severity=v["severity"] or "error",
                violating_resources=[
                    PolicyViolatingResource(
                        locations=r["locations"],
                        resource_logical_id=r["logical_id"],
                        template_path=by_name.get(r["template"]),
                    )
                    for r in v["resources"]
                ],
            )
            for v in record["violations"]
        ],
    )


@jsii.implements(IPolicyValidationPlugin)
class _FindingsAreErrors:
    """The Guard validator, with each finding marked as the error it is, and its verdicts kept
    (GuardCache)."""

    def __init__(self, inner: IPolicyValidationPlugin, cache: GuardCache) -> None:
        self._inner, self._cache = inner, cache

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def version(self) -> str | None:
        return self._inner.version

    @property
    def rule_ids(self) -> list[str] | None:
        return self._inner.rule_ids

    # jsii calls this positionally with CDK's validation context.
    def validate(self, context: Any) -> PolicyValidationPluginReport:
        paths = [str(path) for path in context.template_paths]
        key = self._cache.key(self._inner, paths)
        record = self._cache.load(key)
        if record is None:
            record = _record(self._inner.validate(context))
            self._cache.store(key, record)
        return _report(record, paths)


def validator() -> IPolicyValidationPlugin:
    """The validator with every bundled Control Tower rule (none disabled: acknowledge instead)."""
    # cfn-guard's JSON report grows by about 10 KB per finding; past the plugin's 1 MB default
    # buffer it fails with ENOBUFS instead of listing what to fix.
    inner = cast("IPolicyValidationPlugin", CfnGuardValidator(max_buffer=GUARD_OUTPUT_BUFFER_BYTES))
    plugin = _FindingsAreErrors(inner, GuardCache.from_environment())
    # jsii.implements does not tell mypy the class implements the protocol.
    return cast("IPolicyValidationPlugin", plugin)
