"""Helpers for the infra tests: build and synthesize apps the way app.py does."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Validations
from aws_cdk.assertions import Template

from stacks.app_builder import BuiltApp, build_from_context
from tests.fixture_config import fixture_context

# The cloud assembly's artifact type of a CloudFormation stack, as manifest.json spells it (the
# Python enum's value is its member name, not this). A stack's metadata is its `metadata` field or
# its `additionalMetadataFile`, "exactly the same" schema: construct path -> entries
# (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.cloud_assembly_schema.ArtifactManifest.html).
STACK_ARTIFACT = "aws:cloudformation:stack"


@dataclass(frozen=True)
class Synthesized:
    built: BuiltApp
    data: Template
    service: Template
    ci: Template | None = None

    @property
    def templates(self) -> dict[str, dict[str, Any]]:
        found = {
            self.built.data.stack_name: self.data.to_json(),
            self.built.service.stack_name: self.service.to_json(),
        }
        if self.built.ci is not None and self.ci is not None:  # cdk.json has a `ci` section
            found[self.built.ci.stack_name] = self.ci.to_json()
        return found

    @property
    def assembly(self) -> Path:
        """The cloud assembly the templates came from (Template.from_stack synthesized it)."""
        return Path(self.built.app.synth().directory)

    @property
    def validation_report(self) -> dict[str, Any]:
        """CDK's validation report of the synthesis the templates came from (the gates'
        findings, acknowledged ones included)."""
        report: dict[str, Any] = json.loads((self.assembly / "validation-report.json").read_text())
        return report

    @functools.cached_property
    def acknowledgments(self) -> dict[tuple[str, str], str]:
        """(construct path, rule) -> reason of every acknowledgment in the app, cdk-nag's and
        the Control Tower gate's alike: each construct's `aws:cdk:acknowledged-rules` metadata,
        as the cloud assembly's stack metadata holds it for the CLI. The same entries as a walk
        of the construct tree, read from JSON instead of one jsii call per construct."""
        manifest = json.loads((self.assembly / "manifest.json").read_text())
        found: dict[tuple[str, str], str] = {}
        for artifact in manifest["artifacts"].values():
            if artifact["type"] != STACK_ARTIFACT:
                continue
            metadata_file = artifact.get("additionalMetadataFile")
            metadata = (
                json.loads((self.assembly / metadata_file).read_text())
                if metadata_file
                else artifact.get("metadata", {})
            )
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                        for rule, reason in entry["data"].items():
                            found[(path.removeprefix("/"), rule)] = reason
        return found


def synthesize(built: BuiltApp) -> Synthesized:
    # Template.from_stack synthesizes the whole app once; cdk-nag (and the Control Tower gate,
    # when the build has it) run here and raise on any unacknowledged finding.
    return Synthesized(
        built=built,
        data=Template.from_stack(built.data),
        service=Template.from_stack(built.service),
        ci=None if built.ci is None else Template.from_stack(built.ci),
    )


def build_fixture(
    env_name: str, *, control_tower_gate: bool = False, **overrides: dict[str, Any]
) -> BuiltApp:
    """A fixture environment with section overrides, e.g. proxy={"auth_mode": "secrets"}; the
    Control Tower gate only when asked (it adds seconds to each synth)."""
    return build_from_context(
        fixture_context(**{env_name: overrides}), env_name, control_tower_gate=control_tower_gate
    )
