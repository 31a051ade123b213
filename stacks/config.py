"""Configuration schema: one frozen dataclass per cdk.json section, validated field by field.

This module is pure: it knows the keys, their types, ranges and meanings, and the rules between
keys. Reading cdk.json and checking the connection/timeout budgets is stacks/loader.py's job.
Every field carries its documentation (`doc`), which the README's configuration table is
generated from (`python -m stacks.config_doc`).
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from orders import contract
from stacks.aws_facts import (
    AVAILABILITY_ZONE_NAME,
    DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS,
    HTTP_API_MAX_INTEGRATION_TIMEOUT_S,
    LAMBDA_MAX_TIMEOUT_S,
    LOG_RETENTION_DAYS,
    PERFORMANCE_INSIGHTS_RETENTION_DAYS,
    SNS_TOPIC_ARN,
    STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT,
)

# The newest PostgreSQL minors CDK 2.275 names; a pinned minor keeps upgrades deliberate
# (and cfn-lint W3691 quiet). 18.x works on RDS; RDS Proxy support for 18 is region-dependent.
ENGINE_VERSIONS = ("17.4", "17.5", "17.6", "17.7", "17.9", "18.3")

# Interface endpoints the design can use, each with the reason it exists. Gateway endpoints
# are not used: nothing here talks to S3 or DynamoDB.
ENDPOINT_REASONS: dict[str, str] = {
    "secretsmanager": (
        "the migration function reads the RDS-managed admin secret (and, in secrets mode, the "
        "app-user secret); in secrets mode the proxy reads the app-user secret"
    ),
    "xray": (
        "only for an in-function tracing SDK (ADOT/OpenTelemetry, X-Ray SDK) sending spans from "
        "isolated subnets; Lambda active tracing itself needs no endpoint"
    ),
}
# What the app needs without NAT; the others are optional.
REQUIRED_ENDPOINTS = ("secretsmanager",)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_APP_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{1,29}$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,14}$")
_IDENTIFIER = re.compile(contract.IDENTIFIER)
_CIDR = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or out of range."""


def setting(
    doc: str,
    *,
    default: Any = dataclasses.MISSING,
    range: tuple[float, float] | None = None,
    choices: tuple[Any, ...] | None = None,
    pattern: re.Pattern[str] | None = None,
    pattern_help: str = "",
    check: Callable[[Any], str | None] | None = None,
    note: str = "",
) -> Any:
    """A config field: its meaning and what it accepts. A default makes the key optional.

    `note` names a rule between keys (checked after every field is valid); it is shown in the
    generated docs next to the range, so the docs state the range the key really accepts.
    """
    meta = {
        "doc": doc,
        "range": range,
        "choices": choices,
        "pattern": pattern,
        "pattern_help": pattern_help,
        "check": check,
        "note": note,
    }
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _period_check(value: int) -> str | None:
    if value in (10, 30) or (value >= 60 and value % 60 == 0):
        return None
    return "allowed: 10, 30 or a multiple of 60"


def _cidr_check(value: str) -> str | None:
    match = _CIDR.match(value)
    if match is None or any(int(octet) > 255 for octet in match.groups()[:4]):
        return "not an IPv4 CIDR such as 10.20.0.0/16"
    if not 16 <= int(match.group(5)) <= 24:
        return "allowed prefix lengths /16../24 (a /24 App subnet per AZ must fit)"
    return None


# --- sections -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Names shared by every environment (context key `project`)."""

    app_name: str = setting(
        "Prefix of stack names, descriptions and the metrics namespace",
        pattern=_APP_NAME,
        pattern_help="PascalCase letters and digits, 2..30",
    )
    service_name: str = setting(
        "Name of the sample service: Powertools service, metrics namespace suffix",
        pattern=re.compile(contract.SERVICE_NAME),
        pattern_help=contract.SERVICE_NAME_HELP,
    )
    default_env: str = setting(
        "Environment used when none is given (`-c env=` / `ENV=`)",
        pattern_help="a key of context.environments",
    )

    @property
    def metrics_namespace(self) -> str:
        """CloudWatch namespace of the functions' own (EMF) metrics, e.g. PgProxyOrders."""
        return f"{self.app_name}{self.service_name.capitalize()}"


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """VPC shape: isolated subnets only unless nat_gateways > 0."""

    max_azs: int = setting("Availability Zones (subnets per tier)", range=(2, 3))
    availability_zones: tuple[str, ...] | None = setting(
        "Pinned AZ names (exactly max_azs); null: Fn::GetAZs, whose order may change",
        default=None,
        pattern=AVAILABILITY_ZONE_NAME.value,
        pattern_help="an AZ name such as eu-west-1a",
        note="exactly `max_azs` distinct names of one region",
    )
    vpc_cidr: str = setting(
        "VPC CIDR", check=_cidr_check, pattern_help="an IPv4 CIDR, prefix /16../24"
    )
    nat_gateways: int = setting(
        "0: isolated subnets only; > 0 adds public + NAT egress subnets", range=(0, 3)
    )
    flow_log_retention_days: int = setting(
        "VPC flow log (ALL traffic) retention", choices=LOG_RETENTION_DAYS.value
    )
    interface_endpoints: tuple[str, ...] = setting(
        "Interface endpoints",
        choices=tuple(ENDPOINT_REASONS),
        note="must include what the config needs without NAT (secretsmanager)",
    )


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """RDS PostgreSQL instance, its storage, backups, logging and Database Insights."""

    engine_version: str = setting(
        "Pinned PostgreSQL minor (auto minor upgrades off)", choices=ENGINE_VERSIONS
    )
    instance_class: str = setting(
        "Instance class without `db.`; drives max_connections in the budget",
        note="a family and size the budget knows (`make budget`)",
    )
    allocated_storage_gib: int = setting("gp3 storage at creation", range=(20, 16384))
    max_allocated_storage_gib: int = setting(
        "Storage autoscaling ceiling",
        range=(22, 65536),
        note="≥ allocated_storage_gib + 10 % (RDS rejects less)",
    )
    multi_az: bool = setting("Multi-AZ standby")
    backup_retention_days: int = setting("Automated backups", range=(1, 35))
    deletion_protection: bool = setting("RDS deletion protection")
    removal_policy: str = setting(
        "What `cdk destroy` does to the instance", choices=("destroy", "snapshot", "retain")
    )
    database_name: str = setting(
        "Database created at launch", pattern=_IDENTIFIER, pattern_help=contract.IDENTIFIER_HELP
    )
    admin_username: str = setting(
        "Master user; password managed by RDS in Secrets Manager (CMK, rotated)",
        pattern=_IDENTIFIER,
        pattern_help=contract.IDENTIFIER_HELP,
    )
    log_min_duration_statement_ms: int = setting(
        "Parameter group: log statements slower than this (-1: off)", range=(-1, 3_600_000)
    )
    log_retention_days: int = setting(
        "Retention of the exported PostgreSQL logs", choices=LOG_RETENTION_DAYS.value
    )
    insights_mode: str = setting(
        "CloudWatch Database Insights mode (Performance Insights ended 2026-07-31)",
        choices=("standard", "advanced"),
    )
    performance_insights_retention_days: int = setting(
        "Performance Insights data retention",
        choices=PERFORMANCE_INSIGHTS_RETENTION_DAYS.value,
        note=f"≥ {DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS.value} with insights_mode advanced",
    )
    admin_headroom_min_connections: int = setting(
        "Connections kept outside the proxy pool (admin, migrations, rotation)", range=(5, 1000)
    )


@dataclass(frozen=True, kw_only=True)
class ProxyConfig:
    """RDS Proxy login scheme and pool caps."""

    auth_mode: str = setting(
        "`iam`: end-to-end IAM, no app secret; `secrets`: rotated app-user secret",
        choices=contract.AUTH_MODES,
    )
    app_db_user: str = setting(
        "Database user the functions log in as",
        pattern=_IDENTIFIER,
        pattern_help=contract.IDENTIFIER_HELP,
        note="≠ database.admin_username",
    )
    max_connections_percent: int = setting(
        "MaxConnectionsPercent: the proxy's share of max_connections",
        range=(1, 100),
        note="leaves ≥ database.admin_headroom_min_connections (`make budget` prints the bound)",
    )
    max_idle_connections_percent: int = setting(
        "MaxIdleConnectionsPercent", range=(0, 100), note="≤ max_connections_percent"
    )
    borrow_timeout_s: int = setting(
        "ConnectionBorrowTimeout", range=(1, 300), note="< functions.timeout_s"
    )
    idle_client_timeout_s: int = setting("IdleClientTimeout", range=(1, 28800))


@dataclass(frozen=True, kw_only=True)
class AppRoleConfig:
    """Server-side timeouts the migration sets on the app's database role (ALTER ROLE ... SET).

    Role settings, not session SETs: a SET would pin the client to one server connection, and
    RDS Proxy rejects them as startup options.
    """

    statement_timeout_ms: int = setting("`statement_timeout`", range=contract.STATEMENT_TIMEOUT_MS)
    lock_timeout_ms: int = setting("`lock_timeout`", range=contract.LOCK_TIMEOUT_MS)
    idle_in_transaction_timeout_ms: int = setting(
        "`idle_in_transaction_session_timeout`", range=contract.IDLE_IN_TRANSACTION_TIMEOUT_MS
    )


@dataclass(frozen=True, kw_only=True)
class FunctionsConfig:
    """Lambda runtime settings and the client-side caps."""

    architecture: str = setting(
        "CPU architecture (wheels are bundled for it)", choices=("arm64", "x86_64")
    )
    memory_mb: int = setting("Memory of every function", range=(128, 10240))
    timeout_s: int = setting(
        "Timeout of the api and direct functions",
        range=(1, LAMBDA_MAX_TIMEOUT_S.value),
        note="≥ connect + borrow + statement timeouts, ≤ api.integration_timeout_s",
    )
    migration_timeout_s: int = setting(
        "Timeout of the migration function", range=(30, LAMBDA_MAX_TIMEOUT_S.value)
    )
    connect_timeout_s: int = setting("Driver connect timeout", range=contract.CONNECT_TIMEOUT_S)
    api_reserved_concurrency: int = setting(
        "Reserved concurrency (client-side cap) of the API function", range=(1, 1000)
    )
    direct_reserved_concurrency: int = setting(
        "Reserved concurrency of the direct-invoke function", range=(1, 1000)
    )
    migration_reserved_concurrency: int = setting(
        "Reserved concurrency of the migration function", range=(1, 1)
    )
    log_retention_days: int = setting("Function log retention", choices=LOG_RETENTION_DAYS.value)
    log_level: str = setting("Powertools log level", choices=contract.LOG_LEVELS)
    tracing: bool = setting("Lambda active tracing (X-Ray)")


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """HTTP API integration timeout, throttling and access logs."""

    integration_timeout_s: int = setting(
        "HTTP API integration timeout",
        range=(1, HTTP_API_MAX_INTEGRATION_TIMEOUT_S.value),
        note="≥ functions.timeout_s",
    )
    throttle_rate_limit: int = setting("Stage rate limit (requests/s)", range=(1, 10000))
    throttle_burst_limit: int = setting("Stage burst limit", range=(1, 5000))
    access_log_retention_days: int = setting(
        "Access log retention", choices=LOG_RETENTION_DAYS.value
    )


def _email_check(value: str) -> str | None:
    return None if _EMAIL.match(value) else "not an e-mail address (name@domain.tld)"


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Alarm policy and destinations: shares and counts; thresholds derive from the budget."""

    alarm_email: str | None = setting(
        "E-mail subscribed to the alarm topic",
        default=None,
        check=_email_check,
        pattern_help="an e-mail address",
    )
    alarm_topic_arn: str | None = setting(
        "Existing SNS topic (chat, paging) that alarms notify too",
        default=None,
        pattern=SNS_TOPIC_ARN.value,
        pattern_help="an SNS topic ARN in the deploy region",
    )
    alarm_destination_required: bool = setting(
        "Refuse to deploy (make deploy / make preflight) without alarm_email or alarm_topic_arn",
        default=False,
    )
    period_seconds: int = setting(
        "Alarm and dashboard period",
        default=60,
        check=_period_check,
        pattern_help="10, 30 or a multiple of 60",
    )
    db_connections_alarm_percent: int = setting(
        "DB connections alarm, % of max_connections",
        default=90,
        range=(1, 100),
        note="> proxy.max_connections_percent",
    )
    db_connections_evaluation_periods: int = setting(
        "Periods the DB connections alarm evaluates", default=3, range=(1, 100)
    )
    pool_saturation_percent: int = setting(
        "Proxy pool alarm, % of the proxy's connection ceiling", default=90, range=(1, 100)
    )
    pool_saturation_evaluation_periods: int = setting(
        "Periods the pool alarm evaluates", default=5, range=(1, 100)
    )
    pinned_connections_threshold: int = setting(
        "Session-pinned server connections tolerated", default=5, range=(0, 10_000)
    )
    pinned_evaluation_periods: int = setting(
        "Periods the pinning alarm evaluates", default=5, range=(1, 100)
    )
    borrow_latency_ms_threshold: int = setting(
        "Average connection borrow latency that alarms (ms)", default=100, range=(1, 120_000)
    )
    borrow_latency_evaluation_periods: int = setting(
        "Periods the borrow-latency alarm evaluates", default=3, range=(1, 100)
    )
    proxy_availability_percent: float = setting(
        "Proxy availability below this alarms", default=100.0, range=(1, 100)
    )
    proxy_availability_evaluation_periods: int = setting(
        "Periods the availability alarm evaluates", default=2, range=(1, 100)
    )
    lambda_throttles_threshold: int = setting(
        "Throttled invocations per period", default=1, range=(1, 1_000_000)
    )
    lambda_errors_threshold: int = setting(
        "Failed invocations per period (unhandled errors)", default=1, range=(1, 1_000_000)
    )
    server_errors_threshold: int = setting(
        "Handled 5xx responses per period (API 5xx, the functions' ServerErrors metric)",
        default=5,
        range=(1, 1_000_000),
    )
    lambda_evaluation_periods: int = setting(
        "Periods the function and 5xx alarms evaluate", default=1, range=(1, 100)
    )
    db_cpu_percent: int = setting("DB CPU alarm", default=80, range=(1, 100))
    db_cpu_evaluation_periods: int = setting(
        "Periods the CPU alarm evaluates", default=5, range=(1, 100)
    )
    free_storage_gib: float = setting("DB free-storage floor", default=2.0, range=(0.1, 65_536))
    free_storage_evaluation_periods: int = setting(
        "Periods the storage alarm evaluates", default=1, range=(1, 100)
    )

    @property
    def has_destination(self) -> bool:
        return self.alarm_email is not None or self.alarm_topic_arn is not None

    def missing_destination(self, env_name: str) -> str | None:
        """Why alarms would notify nobody in `env_name`, or None when they reach someone."""
        if self.has_destination:
            return None
        where = f"environments.{env_name}.monitoring"
        if self.alarm_destination_required:
            return (
                f"{where}: alarm_destination_required is true but neither alarm_email nor "
                "alarm_topic_arn is set: every alarm would notify nobody. Set one of them "
                "(make deploy and make preflight refuse to deploy until you do)."
            )
        return (
            f"{where}: neither alarm_email nor alarm_topic_arn is set: the alarms exist but "
            "notify nobody (subscribe to the AlarmTopicArn output, or set one of the keys)."
        )


# The sections of one environment, in cdk.json order.
SECTIONS: dict[str, type[Any]] = {
    "network": NetworkConfig,
    "database": DatabaseConfig,
    "proxy": ProxyConfig,
    "app_role": AppRoleConfig,
    "functions": FunctionsConfig,
    "api": ApiConfig,
    "monitoring": MonitoringConfig,
}


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """Everything one environment deploys; built once and passed down."""

    project: ProjectConfig
    env_name: str
    network: NetworkConfig
    database: DatabaseConfig
    proxy: ProxyConfig
    app_role: AppRoleConfig
    functions: FunctionsConfig
    api: ApiConfig
    monitoring: MonitoringConfig

    @property
    def data_stack_name(self) -> str:
        return f"{self.project.app_name}-{self.env_name}-Data"

    @property
    def service_stack_name(self) -> str:
        return f"{self.project.app_name}-{self.env_name}-Service"

    def required_endpoints(self) -> dict[str, str]:
        """Interface endpoints this configuration needs (isolated subnets), with reasons."""
        if self.network.nat_gateways > 0:
            return {}
        return {name: ENDPOINT_REASONS[name] for name in REQUIRED_ENDPOINTS}


# --- parsing --------------------------------------------------------------------------------

T = TypeVar("T")


def parse_section(cls: type[T], raw: object, where: str) -> T:
    """Build section `cls` from `raw`, naming `where.<key>` in every error."""
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
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name not in raw:
            if f.default is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing key")
            continue
        values[name] = _check_value(key, raw[name], hints[name], f.metadata)
    return cls(**values)


def _is_optional(hint: Any) -> tuple[bool, Any]:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return True, args[0]
    return False, hint


def _check_value(key: str, value: object, hint: Any, meta: Mapping[str, Any]) -> object:
    optional, hint = _is_optional(hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got null")
    if get_origin(hint) is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        for item in value:
            _check_allowed(key, item, meta)
        return tuple(value)
    # bool is an int subclass in Python; a JSON true must not pass as a number (or vice versa).
    accepted: tuple[type, ...] = (int, float) if hint is float else (hint,)
    if isinstance(value, bool) != (hint is bool) or not isinstance(value, accepted):
        raise ConfigError(
            f"{key}: expected {_type_name(hint)}, got {type(value).__name__} {value!r}"
        )
    _check_allowed(key, value, meta)
    return float(value) if hint is float and isinstance(value, int | float) else value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _check_allowed(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    note = f" ({meta['note']})" if meta.get("note") else ""
    if meta.get("range") is not None:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: value {value!r} out of range; allowed {lo}..{hi}{note}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(f"{key}: value {value!r} not allowed; allowed: {allowed}")
    if meta.get("pattern") is not None and not meta["pattern"].match(value):
        raise ConfigError(f"{key}: value {value!r} not allowed; expected {meta['pattern_help']}")
    if meta.get("check") is not None:
        problem = meta["check"](value)
        if problem is not None:
            raise ConfigError(f"{key}: value {value!r} is invalid: {problem}")


def parse_project(raw: object) -> ProjectConfig:
    return parse_section(ProjectConfig, raw, "project")


def check_env_name(env_name: str, known: tuple[str, ...]) -> None:
    if env_name not in known:
        raise ConfigError(
            f"env: value {env_name!r} not allowed; allowed: {', '.join(known)} "
            "(the keys of context.environments in cdk.json)"
        )
    if not _ENV_NAME.match(env_name):
        raise ConfigError(
            f"environments.{env_name}: invalid environment name; expected lower-case letters "
            "and digits, 1..15, starting with a letter (it becomes part of the stack names)"
        )


def parse_environment(project: ProjectConfig, env_name: str, raw: object) -> AppConfig:
    """Parse and validate one environment's section of cdk.json (no budget check)."""
    where = f"environments.{env_name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__} {raw!r}")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed keys: {', '.join(SECTIONS)}")
    optional = {
        name
        for name, cls in SECTIONS.items()
        if all(f.default is not dataclasses.MISSING for f in dataclasses.fields(cls))
    }
    sections = {
        name: parse_section(cls, raw.get(name, {} if name in optional else None), f"{where}.{name}")
        for name, cls in SECTIONS.items()
    }
    config = AppConfig(project=project, env_name=env_name, **sections)
    for rule in RULES:
        rule(config, where)
    return config


# --- rules between keys ---------------------------------------------------------------------


def min_max_storage_gib(allocated_gib: int) -> int:
    """The smallest storage-autoscaling ceiling RDS accepts for `allocated_gib` (+10 %)."""
    headroom = STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT.value
    return -(-allocated_gib * (100 + headroom) // 100)


def _storage_rule(config: AppConfig, where: str) -> None:
    db = config.database
    lowest = min_max_storage_gib(db.allocated_storage_gib)
    if db.max_allocated_storage_gib < lowest:
        raise ConfigError(
            f"{where}.database.max_allocated_storage_gib: value {db.max_allocated_storage_gib} "
            f"out of range; allowed {lowest}..65536 (RDS wants the autoscaling ceiling at least "
            f"{STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT.value} % above allocated_storage_gib = "
            f"{db.allocated_storage_gib}: {STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT.source})"
        )


def _insights_rule(config: AppConfig, where: str) -> None:
    db = config.database
    minimum = DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS.value
    if db.insights_mode == "advanced" and db.performance_insights_retention_days < minimum:
        allowed = [d for d in PERFORMANCE_INSIGHTS_RETENTION_DAYS.value if d >= minimum]
        raise ConfigError(
            f"{where}.database.performance_insights_retention_days: value "
            f"{db.performance_insights_retention_days} not allowed with insights_mode "
            f"'advanced'; allowed: {', '.join(map(str, allowed))} (Database Insights Advanced "
            f"needs ≥ {minimum} days: {DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS.source})"
        )


def _proxy_rule(config: AppConfig, where: str) -> None:
    px, fn = config.proxy, config.functions
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
    if px.app_db_user == config.database.admin_username:
        raise ConfigError(
            f"{where}.proxy.app_db_user: value {px.app_db_user!r} must differ from "
            "database.admin_username"
        )


def _network_rule(config: AppConfig, where: str) -> None:
    net = config.network
    missing = sorted(set(config.required_endpoints()) - set(net.interface_endpoints))
    if missing:
        reason = config.required_endpoints()[missing[0]]
        raise ConfigError(
            f"{where}.network.interface_endpoints: value {list(net.interface_endpoints)!r} "
            f"lacks {missing[0]!r}, required without NAT because {reason}"
        )
    azs = net.availability_zones
    if azs is not None:
        regions = {az[:-1] for az in azs}
        if len(azs) != net.max_azs or len(set(azs)) != len(azs) or len(regions) != 1:
            raise ConfigError(
                f"{where}.network.availability_zones: value {list(azs)!r} not allowed; expected "
                f"exactly max_azs ({net.max_azs}) distinct AZ names of one region, or null"
            )


def _monitoring_rule(config: AppConfig, where: str) -> None:
    mon, px = config.monitoring, config.proxy
    if mon.db_connections_alarm_percent <= px.max_connections_percent:
        raise ConfigError(
            f"{where}.monitoring.db_connections_alarm_percent: value "
            f"{mon.db_connections_alarm_percent} out of range; allowed "
            f"{px.max_connections_percent + 1}..100 (above proxy.max_connections_percent, or "
            "a full proxy pool alone raises the alarm)"
        )


RULES: tuple[Callable[[AppConfig, str], None], ...] = (
    _storage_rule,
    _insights_rule,
    _proxy_rule,
    _network_rule,
    _monitoring_rule,
)
