"""Builds the app's stacks from context: the one code path app.py and the tests share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks import control_tower
from stacks.ci_access_stack import CiAccessStack
from stacks.config import AppConfig
from stacks.data_stack import DataStack
from stacks.loader import (
    ENV_CONTEXT_KEY,
    PROJECT_ROOT,
    bootstrap_qualifier,
    load,
    load_ci,
    node_context,
    read_context,
)
from stacks.service_stack import ServiceStack

LAMBDA_SRC = PROJECT_ROOT / "lambda_src"
# Context key that tells CDK which stacks to bundle assets for; [] skips bundling (tests).
BUNDLING_STACKS_KEY = "aws:cdk:bundling-stacks"


@dataclass(frozen=True)
class BuiltApp:
    app: App
    config: AppConfig
    data: DataStack
    service: ServiceStack
    ci: CiAccessStack | None = None


def build(app: App, lambda_src: Path = LAMBDA_SRC) -> BuiltApp:
    """Read config from the app's context once, create the environment's stacks (and, when
    cdk.json has a `ci` section, the CI access stack), register the gates: cdk-nag, and the
    Control Tower controls unless the context turns them off (stacks/control_tower.py)."""
    context = node_context(app.node)
    config = load(context.get(ENV_CONTEXT_KEY), context)
    plan = load_ci(context)
    data = DataStack(app, config.data_stack_name, config=config, lambda_src=lambda_src)
    service = ServiceStack(
        app,
        config.service_stack_name,
        config=config,
        data=data,
        lambda_src=lambda_src,
        ci_target=None if plan is None else plan.target(config.env_name),
    )
    ci = None
    if plan is not None:
        qualifier = bootstrap_qualifier(context)
        ci = CiAccessStack(app, plan.stack_name, plan=plan, qualifier=qualifier)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    if control_tower.gate_enabled(app.node.try_get_context(control_tower.GATE_CONTEXT_KEY)):
        Validations.of(app).add_plugins(control_tower.validator())
    return BuiltApp(app=app, config=config, data=data, service=service, ci=ci)


def build_from_context(
    context: Mapping[str, Any],
    env_name: str | None = None,
    *,
    bundling: bool = False,
    control_tower_gate: bool = False,
    outdir: str | None = None,
    lambda_src: Path = LAMBDA_SRC,
) -> BuiltApp:
    """In-process build as the CLI would do it with this context (tests, fixtures); without the
    Control Tower gate unless asked (cdk-nag always runs)."""
    full: dict[str, Any] = dict(context)
    if env_name is not None:
        full[ENV_CONTEXT_KEY] = env_name
    if not bundling:
        full[BUNDLING_STACKS_KEY] = []
    full[control_tower.GATE_CONTEXT_KEY] = control_tower_gate
    return build(App(context=full, outdir=outdir), lambda_src=lambda_src)


def build_for_env(
    env_name: str,
    *,
    bundling: bool = False,
    control_tower_gate: bool = False,
    outdir: str | None = None,
) -> BuiltApp:
    """In-process build of one environment of cdk.json."""
    return build_from_context(
        read_context(),
        env_name,
        bundling=bundling,
        control_tower_gate=control_tower_gate,
        outdir=outdir,
    )
