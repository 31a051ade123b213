"""Builds the app's stacks from context: the one code path app.py and the tests share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import AppConfig, from_context
from stacks.data_stack import DataStack
from stacks.service_stack import ServiceStack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = PROJECT_ROOT / "lambda_src"


@dataclass(frozen=True)
class BuiltApp:
    app: App
    config: AppConfig
    data: DataStack
    service: ServiceStack


def build(app: App, lambda_src: Path = LAMBDA_SRC) -> BuiltApp:
    """Read config from the app's context once, create both stacks, register cdk-nag."""
    config = from_context(app.node)
    data = DataStack(app, config.data_stack_id, config=config)
    service = ServiceStack(
        app, config.service_stack_id, config=config, data=data, lambda_src=lambda_src
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return BuiltApp(app=app, config=config, data=data, service=service)


def cdk_json_context(cdk_json: Path = PROJECT_ROOT / "cdk.json") -> dict[str, Any]:
    """The context block of cdk.json (what the CLI passes to app.py)."""
    context = json.loads(cdk_json.read_text())["context"]
    assert isinstance(context, dict)  # noqa: S101
    return context


def build_for_env(env_name: str, *, bundling: bool = False, outdir: str | None = None) -> BuiltApp:
    """In-process build as the CLI would do it (tests): cdk.json context plus `env`."""
    context: dict[str, Any] = {**cdk_json_context(), "env": env_name}
    if not bundling:
        context["aws:cdk:bundling-stacks"] = []
    return build(App(context=context, outdir=outdir))
