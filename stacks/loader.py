"""The one way to read configuration: cdk.json context -> a validated, budget-checked AppConfig.

app.py (through the CDK context), `make budget` (stacks.budget_report), the burst lab, the drill
and the ops scripts all load an environment here. Environments are whatever
`context.environments` holds; the schema (stacks/config.py) checks the keys, the rules between
them and the budgets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from stacks.aws_facts import CDK_DEFAULT_QUALIFIER
from stacks.ci_plan import CiPlan, ci_plan
from stacks.config import (
    AppConfig,
    ConfigError,
    check_env_name,
    parse_ci,
    parse_environment,
    parse_project,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = PROJECT_ROOT / "cdk.json"
ENV_CONTEXT_KEY = "env"
CI_CONTEXT_KEY = "ci"
ENVIRONMENTS_CONTEXT_KEY = "environments"
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"


def read_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The context block of cdk.json (what the CDK CLI passes to app.py)."""
    try:
        document = json.loads(cdk_json.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cdk_json}: cannot read it as JSON ({exc})") from None
    context = document.get("context") if isinstance(document, dict) else None
    if not isinstance(context, dict):
        raise ConfigError(f"{cdk_json}: no 'context' object")
    return context


def environment_names(context: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The environments cdk.json defines, in file order."""
    context = read_context() if context is None else context
    environments = context.get(ENVIRONMENTS_CONTEXT_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError("environments: expected an object with at least one environment")
    return tuple(environments)


def default_env(context: Mapping[str, Any] | None = None) -> str:
    context = read_context() if context is None else context
    return parse_project(context.get("project")).default_env


def load(env_name: str | None = None, context: Mapping[str, Any] | None = None) -> AppConfig:
    """Parse and validate `env_name` (default: project.default_env), budgets included."""
    context = read_context() if context is None else context
    project = parse_project(context.get("project"))
    names = environment_names(context)
    check_env_name(project.default_env, names)
    env_name = env_name or project.default_env
    check_env_name(env_name, names)
    return parse_environment(project, env_name, context[ENVIRONMENTS_CONTEXT_KEY][env_name])


def load_ci(context: Mapping[str, Any] | None = None) -> CiPlan | None:
    """The validated `ci` section as names and subjects (None: cdk.json has no `ci`)."""
    context = read_context() if context is None else context
    ci = parse_ci(context.get(CI_CONTEXT_KEY), environment_names(context))
    return None if ci is None else ci_plan(parse_project(context.get("project")), ci)


def bootstrap_qualifier(context: Mapping[str, Any]) -> str:
    """The CDK bootstrap qualifier the app's stacks use (context, else the CDK default)."""
    value = context.get(QUALIFIER_CONTEXT_KEY)
    return value if isinstance(value, str) and value else CDK_DEFAULT_QUALIFIER.value


class ContextReader(Protocol):
    """The part of a construct node the loader needs (`app.node`)."""

    def try_get_context(self, key: str) -> Any: ...


_APP_KEYS = (
    "project",
    ENVIRONMENTS_CONTEXT_KEY,
    ENV_CONTEXT_KEY,
    CI_CONTEXT_KEY,
    QUALIFIER_CONTEXT_KEY,
)


def node_context(node: ContextReader) -> dict[str, Any]:
    """The context keys the app reads, as the CLI passed them (`-c env=...` included)."""
    return {key: node.try_get_context(key) for key in _APP_KEYS}


def from_node(node: ContextReader) -> AppConfig:
    """What app.py calls: the environment `-c env=...` names, validated."""
    context = node_context(node)
    return load(context.get(ENV_CONTEXT_KEY), context)
