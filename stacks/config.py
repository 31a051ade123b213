"""Typed, validated configuration per environment, read once from cdk.json context."""

from __future__ import annotations

import dataclasses
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
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or out of range."""


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
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key; allowed keys: {', '.join(sorted(_SECTIONS))}"
        )
    sections = {
        name: _parse_section(cls, raw.get(name), f"{where}.{name}")
        for name, cls in _SECTIONS.items()
    }
    config = AppConfig(env_name=env_name, **sections)
    _check_cross_field(config, where)
    # Imported here: budget.py imports this module for the dataclasses.
    from stacks.budget import check_budgets  # noqa: PLC0415

    check_budgets(config)
    return config


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
