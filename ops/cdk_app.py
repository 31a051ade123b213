"""What the synthesized CDK app asks of an account: the bootstrap version, read from its manifest.

The version a stack needs is not a constant of this project: the CDK synthesizer writes it into
the cloud assembly (`requiresBootstrapStackVersion`, with the SSM parameter that holds the
account's version). Preflight synthesizes the environment in-process, as `make synth` would,
and reads those two values back.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.aws_facts import CDK_BOOTSTRAP_VERSION_PARAMETER, CDK_TOOLKIT_STACK_NAME
from stacks.config import AppConfig
from stacks.loader import CDK_JSON, bootstrap_qualifier, read_context

STACK_ARTIFACT = "aws:cloudformation:stack"


@dataclass(frozen=True)
class BootstrapRequirement:
    """The bootstrap an environment's stacks need: version, where it is recorded, stack name."""

    version: int
    parameter: str
    qualifier: str
    toolkit_stack: str


def toolkit_stack_name(cdk_json: Path = CDK_JSON) -> str:
    """cdk.json `toolkitStackName` (what the CLI uses), else CDKToolkit."""
    document = json.loads(cdk_json.read_text())
    name = document.get("toolkitStackName") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else CDK_TOOLKIT_STACK_NAME.value


def requirement_from_manifest(
    manifest: Mapping[str, Any],
    stack_names: Sequence[str],
    *,
    context: Mapping[str, Any],
    toolkit_stack: str,
) -> BootstrapRequirement:
    """The highest bootstrap version any of `stack_names` requires in a cloud assembly manifest."""
    artifacts = manifest.get("artifacts", {})
    stacks = [artifacts[name] for name in stack_names if name in artifacts]
    if len(stacks) != len(stack_names) or any(s.get("type") != STACK_ARTIFACT for s in stacks):
        found = sorted(n for n, a in artifacts.items() if a.get("type") == STACK_ARTIFACT)
        raise ValueError(f"cloud assembly has stacks {found}, expected {list(stack_names)}")
    props = [s.get("properties", {}) for s in stacks]
    key = "requiresBootstrapStackVersion"
    versions = [int(p[key]) for p in props if key in p]
    if not versions:
        raise ValueError("no stack in the cloud assembly names requiresBootstrapStackVersion")
    qual = bootstrap_qualifier(context)
    default_parameter = CDK_BOOTSTRAP_VERSION_PARAMETER.value.format(qualifier=qual)
    parameters = {p.get("bootstrapStackVersionSsmParameter", default_parameter) for p in props}
    if len(parameters) != 1:
        raise ValueError(f"stacks name different bootstrap parameters: {sorted(parameters)}")
    return BootstrapRequirement(max(versions), parameters.pop(), qual, toolkit_stack)


def synthesized_requirement(config: AppConfig) -> BootstrapRequirement:
    """Synthesize `config`'s environment in-process (no bundling) and read its manifest."""
    from stacks.app_builder import build_from_context  # noqa: PLC0415  # CDK loads in ~2 s

    context = read_context()  # once: the app and the qualifier see the same cdk.json
    with tempfile.TemporaryDirectory(prefix="preflight-cdk-out-") as outdir:
        built = build_from_context(context, config.env_name, outdir=outdir)
        built.app.synth()
        manifest = json.loads((Path(outdir) / "manifest.json").read_text())
    return requirement_from_manifest(
        manifest,
        [config.data_stack_name, config.service_stack_name],
        context=context,
        toolkit_stack=toolkit_stack_name(),
    )
