"""Typed, validated configuration per environment, read once from cdk.json context."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, get_type_hints

ENVIRONMENTS = ("dev", "prod")
DEFAULT_ENV = "dev"

# The newest PostgreSQL minors CDK 2.275 names; a pinned minor keeps upgrades deliberate
# (and cfn-lint W3691 quiet). 18.x works on RDS; RDS Proxy support for 18 is region-dependent.
ENGINE_VERSIONS = ("17.4", "17.5", "17.6", "17.7", "17.9", "18.3")

# Interface endpoints the design can need, each with the reason it exists. Gateway endpoints
# are not used: nothing here talks to S3 or DynamoDB.
ENDPOINT_REASONS: dict[str, str] = {
    "secretsmanager": (
        "the migration function reads the RDS-managed admin secret (and, in secrets mode, the "
        "app-user secret); in secrets mode the proxy reads the app-user secret"
    ),
    "xray": "functions send trace segments to X-Ray when tracing is on (isolated subnets)",
}

HTTP_API_MAX_INTEGRATION_TIMEOUT_S = 29
LAMBDA_MAX_TIMEOUT_S = 900
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or out of range."""


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"monitoring.{key}={value!r} is out of range: allowed {low}..{high}")


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Alarm policy: shares and counts; absolute thresholds are derived from the budget.

    Unlike the other sections every key is optional (the defaults below are the policy);
    stacks.components.monitoring.derive_thresholds turns it into CloudWatch numbers.
    """

    alarm_email: str | None = None
    period_seconds: int = 60
    # DB instance DatabaseConnections above this share of max_connections (admin, migrations and
    # the proxy all count against the same limit); validated to be above the proxy's share, so
    # a full proxy pool alone never raises it.
    db_connections_alarm_percent: int = 90
    db_connections_evaluation_periods: int = 3
    # Proxy server connections at this share of its ceiling mean requests start to queue.
    pool_saturation_percent: int = 90
    pool_saturation_evaluation_periods: int = 5
    # Pinned server connections defeat multiplexing; a few are normal (migrations), many are not.
    pinned_connections_threshold: int = 5
    pinned_evaluation_periods: int = 5
    borrow_latency_ms_threshold: int = 100
    borrow_latency_evaluation_periods: int = 3
    # AvailabilityPercentage below this (per period) alarms; 100 means "any unavailability".
    proxy_availability_percent: float = 100.0
    proxy_availability_evaluation_periods: int = 2
    lambda_throttles_threshold: int = 1
    lambda_errors_threshold: int = 1
    lambda_evaluation_periods: int = 1
    db_cpu_percent: int = 80
    db_cpu_evaluation_periods: int = 5
    free_storage_gib: float = 2.0
    free_storage_evaluation_periods: int = 1

    def __post_init__(self) -> None:
        if self.alarm_email is not None and not _EMAIL.match(self.alarm_email):
            raise ValueError(
                f"monitoring.alarm_email={self.alarm_email!r} is not an e-mail address "
                "(allowed: None or name@domain.tld)"
            )
        if self.period_seconds not in (10, 30) and (
            self.period_seconds < 60 or self.period_seconds % 60
        ):
            raise ValueError(
                f"monitoring.period_seconds={self.period_seconds!r} is invalid "
                "(allowed: 10, 30 or a multiple of 60)"
            )
        _check_range("db_connections_alarm_percent", self.db_connections_alarm_percent, 1, 100)
        _check_range("pool_saturation_percent", self.pool_saturation_percent, 1, 100)
        _check_range("pinned_connections_threshold", self.pinned_connections_threshold, 0, 10_000)
        _check_range("borrow_latency_ms_threshold", self.borrow_latency_ms_threshold, 1, 120_000)
        _check_range("proxy_availability_percent", self.proxy_availability_percent, 1, 100)
        _check_range("lambda_throttles_threshold", self.lambda_throttles_threshold, 1, 1_000_000)
        _check_range("lambda_errors_threshold", self.lambda_errors_threshold, 1, 1_000_000)
        _check_range("db_cpu_percent", self.db_cpu_percent, 1, 100)
        _check_range("free_storage_gib", self.free_storage_gib, 0.1, 65_536)
        for key in (
            "db_connections_evaluation_periods",
            "pool_saturation_evaluation_periods",
            "pinned_evaluation_periods",
            "borrow_latency_evaluation_periods",
            "proxy_availability_evaluation_periods",
            "lambda_evaluation_periods",
            "db_cpu_evaluation_periods",
            "free_storage_evaluation_periods",
        ):
            _check_range(key, getattr(self, key), 1, 100)


def _rng(lo: int, hi: int) -> dict[str, Any]:
    return {"range": (lo, hi)}


def _choice(*allowed: object) -> dict[str, Any]:
    return {"choices": allowed}


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """VPC shape: isolated subnets only unless nat_gateways > 0."""

    max_azs: int = field(metadata=_rng(2, 3))
    vpc_cidr: str
    nat_gateways: int = field(metadata=_rng(0, 3))
    flow_log_retention_days: int = field(metadata=_choice(*LOG_RETENTION_DAYS))
    interface_endpoints: tuple[str, ...] = field(metadata=_choice(*ENDPOINT_REASONS))


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """RDS PostgreSQL instance, its storage, backups and logging."""

    engine_version: str = field(metadata=_choice(*ENGINE_VERSIONS))
    instance_class: str
    allocated_storage_gib: int = field(metadata=_rng(20, 16384))
    max_allocated_storage_gib: int = field(metadata=_rng(20, 65536))
    multi_az: bool
    backup_retention_days: int = field(metadata=_rng(1, 35))
    deletion_protection: bool
    removal_policy: str = field(metadata=_choice("destroy", "snapshot", "retain"))
    database_name: str
    admin_username: str
    log_min_duration_statement_ms: int = field(metadata=_rng(-1, 3_600_000))
    log_retention_days: int = field(metadata=_choice(*LOG_RETENTION_DAYS))
    performance_insights_retention_days: int = field(metadata=_choice(7, 31, 93, 731))
    admin_headroom_min_connections: int = field(metadata=_rng(5, 1000))


@dataclass(frozen=True, kw_only=True)
class ProxyConfig:
    """RDS Proxy login scheme and pool caps."""

    auth_mode: str = field(metadata=_choice("iam", "secrets"))
    app_db_user: str
    max_connections_percent: int = field(metadata=_rng(1, 100))
    max_idle_connections_percent: int = field(metadata=_rng(0, 100))
    borrow_timeout_s: int = field(metadata=_rng(1, 3600))
    idle_client_timeout_s: int = field(metadata=_rng(1, 28800))


@dataclass(frozen=True, kw_only=True)
class FunctionsConfig:
    """Lambda runtime settings, client-side caps and the per-role database timeouts."""

    architecture: str = field(metadata=_choice("arm64", "x86_64"))
    memory_mb: int = field(metadata=_rng(128, 10240))
    timeout_s: int = field(metadata=_rng(1, LAMBDA_MAX_TIMEOUT_S))
    migration_timeout_s: int = field(metadata=_rng(30, LAMBDA_MAX_TIMEOUT_S))
    connect_timeout_s: int = field(metadata=_rng(1, 60))
    statement_timeout_ms: int = field(metadata=_rng(100, 600_000))
    lock_timeout_ms: int = field(metadata=_rng(100, 600_000))
    idle_in_transaction_timeout_ms: int = field(metadata=_rng(1000, 3_600_000))
    api_reserved_concurrency: int = field(metadata=_rng(1, 1000))
    direct_reserved_concurrency: int = field(metadata=_rng(1, 1000))
    migration_reserved_concurrency: int = field(metadata=_rng(1, 1))
    log_retention_days: int = field(metadata=_choice(*LOG_RETENTION_DAYS))
    log_level: str = field(metadata=_choice("DEBUG", "INFO", "WARNING", "ERROR"))
    tracing: bool


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """HTTP API integration timeout, throttling and access logs."""

    integration_timeout_s: int = field(metadata=_rng(1, HTTP_API_MAX_INTEGRATION_TIMEOUT_S))
    throttle_rate_limit: int = field(metadata=_rng(1, 10000))
    throttle_burst_limit: int = field(metadata=_rng(1, 5000))
    access_log_retention_days: int = field(metadata=_choice(*LOG_RETENTION_DAYS))


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """Everything one environment deploys; built once in app.py and passed down."""

    env_name: str
    network: NetworkConfig
    database: DatabaseConfig
    proxy: ProxyConfig
    functions: FunctionsConfig
    api: ApiConfig
    monitoring: MonitoringConfig

    @property
    def data_stack_id(self) -> str:
        return f"PgProxy-{self.env_name}-Data"

    @property
    def service_stack_id(self) -> str:
        return f"PgProxy-{self.env_name}-Service"

    def required_endpoints(self) -> dict[str, str]:
        """Interface endpoints this configuration needs (isolated subnets), with reasons."""
        if self.network.nat_gateways > 0:
            return {}
        needed = {"secretsmanager": ENDPOINT_REASONS["secretsmanager"]}
        if self.functions.tracing:
            needed["xray"] = ENDPOINT_REASONS["xray"]
        return needed


_SECTIONS: dict[str, type[Any]] = {
    "network": NetworkConfig,
    "database": DatabaseConfig,
    "proxy": ProxyConfig,
    "functions": FunctionsConfig,
    "api": ApiConfig,
}

T = TypeVar("T")


def _parse_section(cls: type[T], raw: object, where: str) -> T:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__} {raw!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key (value {raw[unknown[0]]!r}); "
            f"allowed keys: {', '.join(sorted(fields))}"
        )
    missing = sorted(set(fields) - set(raw))
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: missing key")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        values[name] = _check_value(key, raw[name], hints[name], f.metadata)
    return cls(**values)


def _check_value(key: str, value: object, hint: object, meta: Mapping[str, Any]) -> object:
    if hint == tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        for item in value:
            _check_allowed(key, item, meta)
        return tuple(value)
    expected = hint if isinstance(hint, type) else None
    if expected is None or isinstance(hint, types.GenericAlias):
        raise ConfigError(f"{key}: unsupported field type {hint!r}")  # pragma: no cover
    # bool is an int subclass in Python; a JSON true must not pass as a number (or vice versa).
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        raise ConfigError(
            f"{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    _check_allowed(key, value, meta)
    return value


def _check_allowed(key: str, value: object, meta: Mapping[str, Any]) -> None:
    if "range" in meta:
        lo, hi = meta["range"]
        assert isinstance(value, int)  # noqa: S101 - guaranteed by the type check above
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: value {value!r} out of range; allowed {lo}..{hi}")
    if "choices" in meta and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(f"{key}: value {value!r} not allowed; allowed: {allowed}")


def parse_config(env_name: str, raw: object) -> AppConfig:
    """Parse and validate one environment's raw context (a dict from cdk.json)."""
    where = f"environments.{env_name}"
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"env: value {env_name!r} not allowed; allowed: {', '.join(ENVIRONMENTS)}"
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__} {raw!r}")
    unknown = sorted(set(raw) - {*_SECTIONS, "monitoring"})
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key; allowed keys: "
            f"{', '.join(sorted({*_SECTIONS, 'monitoring'}))}"
        )
    sections = {
        name: _parse_section(cls, raw.get(name), f"{where}.{name}")
        for name, cls in _SECTIONS.items()
    }
    monitoring = _parse_monitoring(raw.get("monitoring", {}), f"{where}.monitoring")
    config = AppConfig(env_name=env_name, monitoring=monitoring, **sections)
    _check_cross_field(config, where)
    # Imported here: budget.py imports this module for the dataclasses.
    from stacks.budget import check_budgets  # noqa: PLC0415

    check_budgets(config)
    _check_monitoring(config, where)
    return config


def _parse_monitoring(raw: object, where: str) -> MonitoringConfig:
    """Optional keys over MonitoringConfig's defaults, with the same key-naming errors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__} {raw!r}")
    fields = {f.name for f in dataclasses.fields(MonitoringConfig)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key (value {raw[unknown[0]]!r}); "
            f"allowed keys: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(MonitoringConfig)
    for name, value in raw.items():
        hint = hints[name]
        accepted = (int, float) if hint is float else hint  # JSON 2 is a fine float
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(
                f"{where}.{name}: expected {hints[name]}, got {type(value).__name__} {value!r}"
            )
    try:
        return MonitoringConfig(**raw)
    except ValueError as exc:
        raise ConfigError(f"{where.removesuffix('.monitoring')}.{exc}") from exc


def _check_cross_field(config: AppConfig, where: str) -> None:
    db, px, fn = config.database, config.proxy, config.functions
    if db.max_allocated_storage_gib < db.allocated_storage_gib:
        raise ConfigError(
            f"{where}.database.max_allocated_storage_gib: value {db.max_allocated_storage_gib} "
            f"must be >= allocated_storage_gib ({db.allocated_storage_gib})"
        )
    if px.max_idle_connections_percent > px.max_connections_percent:
        raise ConfigError(
            f"{where}.proxy.max_idle_connections_percent: value {px.max_idle_connections_percent} "
            f"out of range; allowed 0..max_connections_percent ({px.max_connections_percent})"
        )
    if px.borrow_timeout_s >= fn.timeout_s:
        raise ConfigError(
            f"{where}.proxy.borrow_timeout_s: value {px.borrow_timeout_s} out of range; allowed "
            f"1..{fn.timeout_s - 1} (must be below functions.timeout_s = {fn.timeout_s})"
        )
    if px.app_db_user == db.admin_username:
        raise ConfigError(
            f"{where}.proxy.app_db_user: value {px.app_db_user!r} must differ from "
            "database.admin_username"
        )
    missing = sorted(set(config.required_endpoints()) - set(config.network.interface_endpoints))
    if missing:
        reason = config.required_endpoints()[missing[0]]
        listed = list(config.network.interface_endpoints)
        raise ConfigError(
            f"{where}.network.interface_endpoints: value {listed!r} "
            f"lacks {missing[0]!r}, required without NAT because {reason}"
        )


def _check_monitoring(config: AppConfig, where: str) -> None:
    """Alarm shares that only make sense against the proxy's (already valid) ceiling."""
    mon, px = config.monitoring, config.proxy
    if mon.db_connections_alarm_percent <= px.max_connections_percent:
        raise ConfigError(
            f"{where}.monitoring.db_connections_alarm_percent: value "
            f"{mon.db_connections_alarm_percent} out of range; allowed "
            f"{px.max_connections_percent + 1}..100 (above proxy.max_connections_percent, or "
            "a full proxy pool alone raises the alarm)"
        )


class ContextReader(Protocol):
    """The part of a construct node the config needs (`app.node`)."""

    def try_get_context(self, key: str) -> Any: ...


def from_context(node: ContextReader) -> AppConfig:
    """Read `-c env=...` (default dev) and `environments.<env>` from CDK context."""
    env_name = node.try_get_context("env") or DEFAULT_ENV
    environments = node.try_get_context("environments")
    if not isinstance(environments, Mapping) or env_name not in environments:
        raise ConfigError(f"environments.{env_name}: missing from cdk.json context")
    return parse_config(str(env_name), environments[env_name])
