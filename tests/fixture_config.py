"""Fixture configurations for the tests: numbers are asserted against these, not cdk.json.

A fork retunes cdk.json freely; these stay. The names (app "Fixture", service "shop",
environments "small" and "large") differ from the shipped ones on purpose: a template that
still says PgProxy, orders, dev or prod somewhere was built from a hard-coded name.
"""

from __future__ import annotations

import copy
from typing import Any

from stacks.loader import read_context

SMALL, LARGE = "small", "large"
FIXTURE_ENVS = (SMALL, LARGE)
APP_NAME, SERVICE_NAME = "Fixture", "shop"

_SMALL: dict[str, Any] = {
    "network": {
        "max_azs": 2,
        "vpc_cidr": "10.60.0.0/16",
        "nat_gateways": 0,
        "flow_log_retention_days": 7,
        "interface_endpoints": ["secretsmanager"],
    },
    "database": {
        "engine_version": "17.9",
        "instance_class": "t4g.medium",  # 413 connections (measured)
        "allocated_storage_gib": 21,
        "max_allocated_storage_gib": 40,
        "multi_az": False,
        "backup_retention_days": 2,
        "deletion_protection": False,
        "removal_policy": "destroy",
        "database_name": "shopdb",
        "admin_username": "shopadmin",
        "log_min_duration_statement_ms": 123,
        "log_retention_days": 60,
        "monitoring_interval_s": 0,
        "insights_mode": "standard",
        "performance_insights_retention_days": 7,
        "admin_headroom_min_connections": 30,
    },
    "proxy": {
        "auth_mode": "iam",
        "app_db_user": "shop_app",
        "max_connections_percent": 70,  # ceiling 289, headroom 124
        "max_idle_connections_percent": 20,
        "borrow_timeout_s": 4,
        "idle_client_timeout_s": 600,
    },
    "app_role": {
        "statement_timeout_ms": 6000,
        "lock_timeout_ms": 1500,
        "idle_in_transaction_timeout_ms": 20000,
    },
    "functions": {
        "architecture": "x86_64",
        "memory_mb": 384,
        "timeout_s": 14,  # >= connect 3 + borrow 4 + statement 6 = 13
        "migration_timeout_s": 90,
        "connect_timeout_s": 3,
        "api_reserved_concurrency": 7,
        "direct_reserved_concurrency": 3,
        "migration_reserved_concurrency": 1,
        "log_retention_days": 5,
        "log_level": "DEBUG",
        "tracing": False,
    },
    "api": {
        "integration_timeout_s": 20,
        "throttle_rate_limit": 11,
        "throttle_burst_limit": 22,
        "access_log_retention_days": 3,
    },
    "monitoring": {
        "alarm_email": "oncall@example.com",
        "db_connections_alarm_percent": 85,  # floor(413 * 0.85) = 351
        "pool_saturation_percent": 75,  # ceil(289 * 0.75) = 217
        "pinned_connections_threshold": 3,
        "borrow_latency_ms_threshold": 70,
        "db_cpu_percent": 65,
        "free_storage_gib": 1.5,
    },
}

_LARGE: dict[str, Any] = copy.deepcopy(_SMALL)
_LARGE["network"].update(max_azs=3, vpc_cidr="10.61.0.0/16", flow_log_retention_days=400)
_LARGE["database"].update(
    instance_class="m7g.large",  # 856 connections (measured)
    multi_az=True,
    backup_retention_days=9,
    deletion_protection=True,
    removal_policy="snapshot",
    monitoring_interval_s=15,
    insights_mode="advanced",
    performance_insights_retention_days=465,
    admin_headroom_min_connections=60,
)
_LARGE["proxy"].update(max_connections_percent=88, max_idle_connections_percent=33)
_LARGE["functions"].update(
    architecture="arm64",
    api_reserved_concurrency=120,
    direct_reserved_concurrency=30,
    tracing=True,
    log_level="INFO",
)
_LARGE["monitoring"] = {
    "alarm_topic_arn": "arn:aws:sns:eu-west-1:111122223333:pager",
    "alarm_destination_required": True,
    "db_connections_alarm_percent": 95,
}


def fixture_context(**env_overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """cdk.json's feature flags with the fixture project and environments.

    `env_overrides` maps an environment to section overrides, e.g.
    `fixture_context(small={"proxy": {"auth_mode": "secrets"}})`.
    """
    flags = {k: v for k, v in read_context().items() if k.startswith("@aws-cdk/")}
    environments = {SMALL: copy.deepcopy(_SMALL), LARGE: copy.deepcopy(_LARGE)}
    for env_name, sections in env_overrides.items():
        for section, values in sections.items():
            environments[env_name].setdefault(section, {}).update(values)
    return {
        **flags,
        "project": {"app_name": APP_NAME, "service_name": SERVICE_NAME, "default_env": SMALL},
        "environments": environments,
    }


# A `ci` section for the fixture app (deploying from GitHub Actions): both environments, in
# deploy order, each in its GitHub environment; a non-default branch.
FIXTURE_CI: dict[str, Any] = {
    "repository": "fixture-org/fixture-repo",
    "account": "444455556666",
    "region": "eu-central-1",
    "branch": "release",
    "environments": [
        {"env": SMALL, "github_environment": "staging-gh"},
        {"env": LARGE, "github_environment": "production-gh"},
    ],
}


def fixture_ci_context(**ci_changes: Any) -> dict[str, Any]:
    """`fixture_context()` with FIXTURE_CI, keys of the `ci` section replaced by `ci_changes`."""
    return {**fixture_context(), "ci": {**copy.deepcopy(FIXTURE_CI), **ci_changes}}


_INSTANCE_ONLY_KEYS = ("allocated_storage_gib", "max_allocated_storage_gib", "multi_az")


def aurora_context(
    env_name: str = SMALL, proxy: dict[str, Any] | None = None, **database: Any
) -> dict[str, Any]:
    """A fixture environment as an Aurora Serverless v2 cluster (1..8 ACU, two readers), with
    `database` overrides (None removes a key) and `proxy` overrides."""
    context = fixture_context()
    env = context["environments"][env_name]
    for key in _INSTANCE_ONLY_KEYS:
        del env["database"][key]
    env["database"] |= {
        "engine": "aurora-postgresql",
        "instance_class": "serverless",
        "serverless_min_acu": 1,
        "serverless_max_acu": 8,
        "reader_count": 2,
        **database,
    }
    env["database"] = {k: v for k, v in env["database"].items() if v is not None}
    env["proxy"] |= proxy or {}
    return context
