"""Config validation: every kind of bad value fails with a message naming key, value and range."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from stacks.app_builder import cdk_json_context
from stacks.config import ConfigError, from_context, parse_config

pytestmark = pytest.mark.infra


def _env(name: str = "dev") -> dict[str, Any]:
    return copy.deepcopy(cdk_json_context()["environments"][name])


def _with(section: str, key: str, value: object, name: str = "dev") -> dict[str, Any]:
    raw = _env(name)
    raw[section][key] = value
    return raw


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_cdk_json_environments_are_valid(name: str) -> None:
    config = parse_config(name, _env(name))
    assert config.env_name == name
    assert config.data_stack_id == f"PgProxy-{name}-Data"


BAD_VALUES = [
    # (id, section, key, value, expected message fragment)
    (
        "unknown-key",
        "proxy",
        "max_conections_percent",
        50,
        r"proxy\.max_conections_percent: unknown key",
    ),
    (
        "wrong-type-str",
        "proxy",
        "max_connections_percent",
        "80",
        r"max_connections_percent: expected int, got str '80'",
    ),
    (
        "bool-for-int",
        "functions",
        "timeout_s",
        True,
        r"functions\.timeout_s: expected int, got bool True",
    ),
    ("int-for-bool", "database", "multi_az", 1, r"database\.multi_az: expected bool, got int 1"),
    (
        "percent-too-high",
        "proxy",
        "max_connections_percent",
        101,
        r"max_connections_percent: value 101 out of range; allowed 1\.\.100",
    ),
    (
        "percent-zero",
        "proxy",
        "max_connections_percent",
        0,
        r"value 0 out of range; allowed 1\.\.100",
    ),
    (
        "idle-above-max",
        "proxy",
        "max_idle_connections_percent",
        90,
        r"max_idle_connections_percent: value 90 out of range; "
        r"allowed 0\.\.max_connections_percent \(80\)",
    ),
    (
        "borrow-ge-lambda",
        "proxy",
        "borrow_timeout_s",
        12,
        r"borrow_timeout_s: value 12 out of range; allowed 1\.\.11",
    ),
    (
        "bad-choice",
        "functions",
        "architecture",
        "arm",
        r"functions\.architecture: value 'arm' not allowed; allowed: 'arm64', 'x86_64'",
    ),
    ("bad-engine", "database", "engine_version", "17", r"engine_version: value '17' not allowed"),
    (
        "bad-retention",
        "functions",
        "log_retention_days",
        10,
        r"log_retention_days: value 10 not allowed",
    ),
    (
        "api-over-http-max",
        "api",
        "integration_timeout_s",
        30,
        r"api\.integration_timeout_s: value 30 out of range; allowed 1\.\.29",
    ),
    (
        "reserved-zero",
        "functions",
        "api_reserved_concurrency",
        0,
        r"api_reserved_concurrency: value 0 out of range; allowed 1\.\.1000",
    ),
    (
        "unknown-endpoint",
        "network",
        "interface_endpoints",
        ["secretsmanager", "s3"],
        r"interface_endpoints: value 's3' not allowed",
    ),
    (
        "missing-endpoint",
        "network",
        "interface_endpoints",
        ["xray"],
        r"interface_endpoints: value \['xray'\] lacks 'secretsmanager'",
    ),
    (
        "bad-class",
        "database",
        "instance_class",
        "t4g.huge",
        r"instance_class: value 't4g.huge' not allowed",
    ),
    ("same-users", "proxy", "app_db_user", "dbadmin", r"app_db_user: value 'dbadmin' must differ"),
    (
        "monitoring-unknown-key",
        "monitoring",
        "db_cpu_pct",
        80,
        r"monitoring\.db_cpu_pct: unknown key \(value 80\)",
    ),
    (
        "monitoring-wrong-type",
        "monitoring",
        "db_cpu_percent",
        "80",
        r"monitoring\.db_cpu_percent: expected <class 'int'>, got str '80'",
    ),
    (
        "monitoring-out-of-range",
        "monitoring",
        "db_cpu_percent",
        0,
        r"monitoring\.db_cpu_percent=0 is out of range: allowed 1\.\.100",
    ),
    (
        "monitoring-bad-email",
        "monitoring",
        "alarm_email",
        "oncall",
        r"monitoring\.alarm_email='oncall' is not an e-mail address",
    ),
    (
        "monitoring-alarm-below-proxy-share",
        "monitoring",
        "db_connections_alarm_percent",
        80,
        r"monitoring\.db_connections_alarm_percent: value 80 out of range; allowed 81\.\.100",
    ),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_bad_value_is_rejected_with_key_value_and_range(
    section: str, key: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        parse_config("dev", _with(section, key, value))
    assert "environments.dev." in str(excinfo.value)


def test_missing_key_is_named() -> None:
    raw = _env()
    del raw["api"]["throttle_rate_limit"]
    with pytest.raises(
        ConfigError, match=r"environments\.dev\.api\.throttle_rate_limit: missing key"
    ):
        parse_config("dev", raw)


def test_monitoring_keys_are_optional_with_policy_defaults() -> None:
    raw = _env()
    del raw["monitoring"]
    config = parse_config("dev", raw)
    assert config.monitoring.db_connections_alarm_percent == 90
    assert config.monitoring.alarm_email is None


def test_unknown_section_is_named() -> None:
    raw = _env()
    raw["monitorng"] = {}
    with pytest.raises(ConfigError, match=r"environments\.dev\.monitorng: unknown key"):
        parse_config("dev", raw)


def test_timeout_budget_violation_names_the_sum() -> None:
    raw = _with("functions", "statement_timeout_ms", 9000)  # 2 + 3 + 9 = 14 > 12
    with pytest.raises(
        ValueError,
        match=re.escape(
            "functions.timeout_s: value 12 is below connect (2) + borrow (3) + statement (9) = 14 s"
        ),
    ):
        parse_config("dev", raw)


def test_lambda_timeout_must_fit_the_api_integration_timeout() -> None:
    raw = _with("api", "integration_timeout_s", 10)  # lambda 12 > api 10
    with pytest.raises(
        ValueError,
        match=r"api\.integration_timeout_s: value 10 is below functions\.timeout_s \(12\)",
    ):
        parse_config("dev", raw)


def test_connection_budget_violation_names_percent_and_allowed_range() -> None:
    raw = _with("proxy", "max_connections_percent", 95)  # 198 -> ceiling 188, headroom 10 < 20
    with pytest.raises(
        ValueError,
        match=r"proxy\.max_connections_percent: value 95 leaves 10 of 198 connections "
        r".* allowed 1\.\.89",
    ):
        parse_config("dev", raw)


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"env: value 'staging' not allowed; allowed: dev, prod"):
        parse_config("staging", _env())


class _Node:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def test_from_context_defaults_to_dev_and_honours_env() -> None:
    context = cdk_json_context()
    assert from_context(_Node(context)).env_name == "dev"
    assert from_context(_Node({**context, "env": "prod"})).env_name == "prod"
    with pytest.raises(ConfigError, match=r"environments\.qa: missing"):
        from_context(_Node({**context, "env": "qa"}))


def test_nat_switch_drops_the_endpoint_requirement() -> None:
    raw = _env()
    raw["network"]["nat_gateways"] = 1
    raw["network"]["interface_endpoints"] = []
    config = parse_config("dev", raw)
    assert config.required_endpoints() == {}
