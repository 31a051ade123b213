"""Configuration schema: pydantic models of cdk.json's `project` and `environments.<name>`.

Each field carries its type, limits and meaning (`description`): pydantic checks them, the rules
between keys are model validators, and the README's configuration table is generated from the
same metadata (`python -m stacks.config_doc`). stacks/config_fields.py words pydantic's
findings (one line per problem: key path, value, what is allowed); stacks/loader.py reads
cdk.json.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

from orders import contract
from stacks.aws_facts import (
    ACCOUNT_ID,
    AURORA_MAX_READERS,
    AURORA_POSTGRES_MAX_CONNECTIONS,
    AURORA_SERVERLESS_V2_ACU_RANGE,
    AURORA_SERVERLESS_V2_AUTO_PAUSE_MIN_ACU,
    AVAILABILITY_ZONE_NAME,
    DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS,
    GITHUB_OIDC_PROVIDER_ARN,
    HTTP_API_MAX_INTEGRATION_TIMEOUT_S,
    LAMBDA_MAX_TIMEOUT_S,
    LOG_RETENTION_DAYS,
    PERFORMANCE_INSIGHTS_RETENTION_DAYS,
    RDS_ENGINE_AURORA_POSTGRES,
    RDS_ENGINE_POSTGRES,
    RDS_MONITORING_INTERVALS_S,
    REGION_NAME,
    SNS_TOPIC_ARN,
    STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT,
)
from stacks.budget import SERVERLESS, BudgetError, budget_problems, instance_memory_gib
from stacks.config_fields import (
    OneOf,
    check,
    doc,
    got,
    hold,
    problems,
    schema_fields,
    section_of,
    worded,
)

# The newest PostgreSQL minors CDK 2.275 names; a pinned minor keeps upgrades deliberate
# (and cfn-lint W3691 quiet). 18.x works on RDS; RDS Proxy support for 18 is region-dependent.
ENGINE_VERSIONS = ("17.4", "17.5", "17.6", "17.7", "17.9", "18.3")
# The Aurora PostgreSQL minors CDK 2.275 names (AuroraPostgresEngineVersion) of that range.
AURORA_ENGINE_VERSIONS = ("17.4", "17.5", "17.6", "17.7", "17.9")
ENGINES = (RDS_ENGINE_POSTGRES.value, RDS_ENGINE_AURORA_POSTGRES.value)
# Keys of one engine only (DatabaseConfig's rule refuses them on the other).
_INSTANCE_ONLY_KEYS = ("allocated_storage_gib", "max_allocated_storage_gib", "multi_az")
_AURORA_ONLY_KEYS = ("serverless_min_acu", "serverless_max_acu", "reader_count", "reader_class")
_AURORA_CLASSES = frozenset(AURORA_POSTGRES_MAX_CONNECTIONS.value)
_ACU = AURORA_SERVERLESS_V2_ACU_RANGE.value

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
_APP_NAME = r"^[A-Z][A-Za-z0-9]{1,29}$"
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,14}$")
_CIDR = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")

# Every section: unknown keys are errors; patterns use Python's `re`, as the functions do when
# they check the same values (orders.contract). Types are strict per field (StrictInt, ...): a
# JSON `true` is not a number, "80" is not an int, and a JSON list still fills a tuple.
_SCHEMA = ConfigDict(extra="forbid", regex_engine="python-re")
# AppConfig keys the loader fills in; every other AppConfig key is a section of cdk.json.
_SET_BY_LOADER = ("project", "env_name")


class ConfigError(ValueError):
    """Configuration cdk.json must fix: one line per problem (key path, value, what is allowed)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _period_problem(value: int) -> str | None:
    if value in (10, 30) or (value >= 60 and value % 60 == 0):
        return None
    return "allowed: 10, 30 or a multiple of 60"


def _cidr_problem(value: str) -> str | None:
    match = _CIDR.match(value)
    if match is None or any(int(octet) > 255 for octet in match.groups()[:4]):
        return "not an IPv4 CIDR such as 10.20.0.0/16"
    if not 16 <= int(match.group(5)) <= 24:
        return "allowed prefix lengths /16../24 (a /24 App subnet per AZ must fit)"
    return None


def _email_problem(value: str) -> str | None:
    return None if _EMAIL.match(value) else "not an e-mail address (name@domain.tld)"


def _known_instance_class(value: str) -> str:
    if value == SERVERLESS:  # Aurora Serverless v2; the engine rule below checks the pairing
        return value
    try:
        instance_memory_gib(value)
    except BudgetError as exc:
        raise worded([("", exc.problem)]) from None
    return value


def _acu_problem(value: float) -> str | None:
    if _ACU["lowest"] <= value <= _ACU["highest"] and (value / _ACU["step"]).is_integer():
        return None
    return (
        f"allowed {_ACU['lowest']:g}..{_ACU['highest']:g} in steps of {_ACU['step']:g} "
        f"(Serverless v2 capacity: {AURORA_SERVERLESS_V2_ACU_RANGE.source})"
    )


_Identifier = Annotated[StrictStr, StringConstraints(pattern=contract.IDENTIFIER)]
_Acu = Annotated[StrictFloat, check(_acu_problem)]
_LogRetention = Annotated[StrictInt, OneOf(LOG_RETENTION_DAYS.value)]
_IDENTIFIER_DOC = doc(expects=contract.IDENTIFIER_HELP)


# --- sections -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class ProjectConfig:
    """Names shared by every environment (context key `project`)."""

    app_name: StrictStr = Field(
        pattern=_APP_NAME,
        description="Prefix of stack names, descriptions and the metrics namespace",
        json_schema_extra=doc(expects="PascalCase letters and digits, 2..30"),
    )
    service_name: StrictStr = Field(
        pattern=contract.SERVICE_NAME,
        description="Name of the sample service: Powertools service, metrics namespace suffix",
        json_schema_extra=doc(expects=contract.SERVICE_NAME_HELP),
    )
    default_env: StrictStr = Field(
        description="Environment used when none is given (`-c env=` / `ENV=`)",
        json_schema_extra=doc(expects="a key of context.environments"),
    )

    @property
    def metrics_namespace(self) -> str:
        """CloudWatch namespace of the functions' own (EMF) metrics, e.g. PgProxyOrders."""
        return f"{self.app_name}{self.service_name.capitalize()}"


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class NetworkConfig:
    """VPC shape: isolated subnets only unless nat_gateways > 0."""

    max_azs: StrictInt = Field(ge=2, le=3, description="Availability Zones (subnets per tier)")
    availability_zones: (
        tuple[Annotated[StrictStr, StringConstraints(pattern=AVAILABILITY_ZONE_NAME.value)], ...]
        | None
    ) = Field(
        default=None,
        description="Pinned AZ names (exactly max_azs); null: Fn::GetAZs, whose order may change",
        json_schema_extra=doc(
            expects="an AZ name such as eu-west-1a",
            note="exactly `max_azs` distinct names of one region",
        ),
    )
    vpc_cidr: Annotated[StrictStr, check(_cidr_problem)] = Field(
        description="VPC CIDR", json_schema_extra=doc(expects="an IPv4 CIDR, prefix /16../24")
    )
    nat_gateways: StrictInt = Field(
        ge=0, le=3, description="0: isolated subnets only; > 0 adds public + NAT egress subnets"
    )
    flow_log_retention_days: _LogRetention = Field(
        description="VPC flow log (ALL traffic) retention"
    )
    interface_endpoints: Annotated[tuple[StrictStr, ...], OneOf(tuple(ENDPOINT_REASONS))] = Field(
        description="Interface endpoints",
        json_schema_extra=doc(
            note="must include what the config needs without NAT (secretsmanager)"
        ),
    )

    def required_endpoints(self) -> dict[str, str]:
        """Interface endpoints this network needs (isolated subnets), with reasons."""
        if self.nat_gateways > 0:
            return {}
        return {name: ENDPOINT_REASONS[name] for name in REQUIRED_ENDPOINTS}

    @model_validator(mode="after")
    def _rules(self) -> NetworkConfig:
        hold(self._problems())
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        required = self.required_endpoints()
        missing = sorted(set(required) - set(self.interface_endpoints))
        if missing:
            yield (
                "interface_endpoints",
                f"value {list(self.interface_endpoints)!r} lacks {missing[0]!r}, required "
                f"without NAT because {required[missing[0]]}",
            )
        azs = self.availability_zones
        if azs is not None:
            regions = {az[:-1] for az in azs}
            if len(azs) != self.max_azs or len(set(azs)) != len(azs) or len(regions) != 1:
                yield (
                    "availability_zones",
                    f"value {list(azs)!r} not allowed; expected exactly max_azs "
                    f"({self.max_azs}) distinct AZ names of one region, or null",
                )


def min_max_storage_gib(allocated_gib: int) -> int:
    """The smallest storage-autoscaling ceiling RDS accepts for `allocated_gib` (+10 %)."""
    headroom = STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT.value
    return -(-allocated_gib * (100 + headroom) // 100)


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class DatabaseConfig:
    """PostgreSQL: an RDS instance (`engine: postgres`) or an Aurora cluster (`aurora-postgresql`),
    its storage or capacity, readers, backups, logging and Database Insights.

    One section for both engines, the engine-specific keys optional and checked by the rule
    below (one line per key in the wrong engine, naming the fix): the error paths, the README
    table and the instance code path keep one model, and CDK takes the optional values as given.
    """

    engine: Annotated[StrictStr, OneOf(ENGINES)] = Field(
        default=RDS_ENGINE_POSTGRES.value,
        description="`postgres`: one RDS instance; `aurora-postgresql`: an Aurora cluster",
    )
    engine_version: Annotated[StrictStr, OneOf(ENGINE_VERSIONS)] = Field(
        description="Pinned PostgreSQL minor (auto minor upgrades off)",
        json_schema_extra=doc(note=f"Aurora: {', '.join(AURORA_ENGINE_VERSIONS)}"),
    )
    instance_class: Annotated[StrictStr, AfterValidator(_known_instance_class)] = Field(
        description="Instance class without `db.` (Aurora: also `serverless`, Serverless v2); "
        "drives max_connections in the budget",
        json_schema_extra=doc(note="a family and size the budget knows (`make budget`)"),
    )
    allocated_storage_gib: StrictInt | None = Field(
        default=None,
        ge=20,
        le=16384,
        description="gp3 storage at creation (postgres only)",
    )
    max_allocated_storage_gib: StrictInt | None = Field(
        default=None,
        ge=22,
        le=65536,
        description="Storage autoscaling ceiling (postgres only)",
        json_schema_extra=doc(note="≥ allocated_storage_gib + 10 % (RDS rejects less)"),
    )
    multi_az: Annotated[bool | None, Strict()] = Field(
        default=None, description="Multi-AZ standby (postgres only; Aurora: reader_count)"
    )
    serverless_min_acu: _Acu | None = Field(
        default=None,
        description="Serverless v2 minimum capacity (aurora-postgresql, instance_class serverless)",
        json_schema_extra=doc(
            expects="0.5..256 in steps of 0.5",
            note="0 refused: a proxy keeps connections open, so it would never pause",
        ),
    )
    serverless_max_acu: _Acu | None = Field(
        default=None,
        description="Serverless v2 maximum capacity; sets max_connections",
        json_schema_extra=doc(expects="1..256 in steps of 0.5", note="≥ serverless_min_acu"),
    )
    reader_count: StrictInt | None = Field(
        default=None,
        ge=0,
        le=AURORA_MAX_READERS.value,
        description="Aurora readers (aurora-postgresql; default 0)",
    )
    reader_class: Annotated[StrictStr, AfterValidator(_known_instance_class)] | None = Field(
        default=None,
        description="Readers' class (aurora-postgresql; default: instance_class)",
        json_schema_extra=doc(expects="an Aurora class or serverless"),
    )
    backup_retention_days: StrictInt = Field(ge=1, le=35, description="Automated backups")
    deletion_protection: StrictBool = Field(description="RDS deletion protection")
    removal_policy: Annotated[StrictStr, OneOf(("destroy", "snapshot", "retain"))] = Field(
        description="What `cdk destroy` does to the instance or cluster"
    )
    database_name: _Identifier = Field(
        description="Database created at launch", json_schema_extra=_IDENTIFIER_DOC
    )
    admin_username: _Identifier = Field(
        description="Master user; password managed by RDS in Secrets Manager (CMK, rotated)",
        json_schema_extra=_IDENTIFIER_DOC,
    )
    log_min_duration_statement_ms: StrictInt = Field(
        ge=-1,
        le=3_600_000,
        description="Parameter group: log statements slower than this (-1: off)",
    )
    log_retention_days: _LogRetention = Field(
        description="Retention of the exported PostgreSQL logs"
    )
    monitoring_interval_s: Annotated[StrictInt, OneOf(RDS_MONITORING_INTERVALS_S.value)] = Field(
        description="Enhanced Monitoring interval (OS metrics to CloudWatch Logs); 0: off"
    )
    insights_mode: Annotated[StrictStr, OneOf(("standard", "advanced"))] = Field(
        description="CloudWatch Database Insights mode (Performance Insights ended 2026-07-31)"
    )
    performance_insights_retention_days: Annotated[
        StrictInt, OneOf(PERFORMANCE_INSIGHTS_RETENTION_DAYS.value)
    ] = Field(
        description="Performance Insights data retention",
        json_schema_extra=doc(
            note=f"≥ {DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS.value} with insights_mode "
            "advanced"
        ),
    )
    admin_headroom_min_connections: StrictInt = Field(
        ge=5,
        le=1000,
        description="Connections kept outside each proxy pool (admin, migrations, rotation)",
    )

    @property
    def is_aurora(self) -> bool:
        return self.engine == RDS_ENGINE_AURORA_POSTGRES.value

    @property
    def readers(self) -> int:
        """Aurora readers (0 for an RDS instance)."""
        return self.reader_count or 0

    @property
    def readers_class(self) -> str:
        return self.reader_class or self.instance_class

    @model_validator(mode="after")
    def _rules(self) -> DatabaseConfig:
        hold(self._engine_problems())
        hold(self._problems())
        return self

    def _engine_problems(self) -> Iterator[tuple[str, str]]:
        if self.is_aurora:
            yield from _aurora_problems(self)
        else:
            yield from _instance_problems(self)

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.allocated_storage_gib is not None and self.max_allocated_storage_gib is not None:
            yield from _storage_problems(self.allocated_storage_gib, self.max_allocated_storage_gib)
        minimum = DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS
        retention = self.performance_insights_retention_days
        if self.insights_mode == "advanced" and retention < minimum.value:
            allowed = [d for d in PERFORMANCE_INSIGHTS_RETENTION_DAYS.value if d >= minimum.value]
            yield (
                "performance_insights_retention_days",
                f"value {retention} not allowed with insights_mode 'advanced'; allowed: "
                f"{', '.join(map(str, allowed))} (Database Insights Advanced needs "
                f"≥ {minimum.value} days: {minimum.source})",
            )


def _storage_problems(allocated: int, ceiling: int) -> Iterator[tuple[str, str]]:
    lowest = min_max_storage_gib(allocated)
    if ceiling < lowest:
        headroom = STORAGE_AUTOSCALING_MIN_HEADROOM_PERCENT
        yield (
            "max_allocated_storage_gib",
            f"value {ceiling} out of range; allowed {lowest}..65536 "
            f"(RDS wants the autoscaling ceiling at least {headroom.value} % above "
            f"allocated_storage_gib = {allocated}: {headroom.source})",
        )


def _instance_problems(db: DatabaseConfig) -> Iterator[tuple[str, str]]:
    """engine postgres: the instance keys are required, the Aurora keys refused."""
    for key in _INSTANCE_ONLY_KEYS:
        if getattr(db, key) is None:
            yield (key, "missing key (required with engine 'postgres')")
    for key in _AURORA_ONLY_KEYS:
        if getattr(db, key) is not None:
            yield (
                key,
                f"value {getattr(db, key)!r} not allowed with engine 'postgres': an Aurora key; "
                "remove it or set engine 'aurora-postgresql'",
            )
    if db.instance_class == SERVERLESS:
        yield (
            "instance_class",
            "value 'serverless' not allowed with engine 'postgres' (Aurora Serverless v2 only); "
            "choose an RDS class or set engine 'aurora-postgresql'",
        )


def _aurora_problems(db: DatabaseConfig) -> Iterator[tuple[str, str]]:
    """engine aurora-postgresql: the instance keys refused, classes and capacity checked."""
    for key in _INSTANCE_ONLY_KEYS:
        if getattr(db, key) is not None:
            fix = "reader_count" if key == "multi_az" else "Aurora storage grows by itself"
            yield (
                key,
                f"value {getattr(db, key)!r} not allowed with engine 'aurora-postgresql': an RDS "
                f"instance key; remove it ({fix})",
            )
    if db.engine_version not in AURORA_ENGINE_VERSIONS:
        yield (
            "engine_version",
            f"value {db.engine_version!r} not allowed with engine 'aurora-postgresql'; allowed: "
            f"{', '.join(AURORA_ENGINE_VERSIONS)}",
        )
    for key in ("instance_class", "reader_class"):
        value = getattr(db, key)
        if value is not None and value != SERVERLESS and value not in _AURORA_CLASSES:
            yield (
                key,
                f"value {value!r} not allowed with engine 'aurora-postgresql'; allowed: "
                f"'serverless' or a class whose max_connections AWS documents "
                f"({', '.join(sorted(_AURORA_CLASSES))}: {AURORA_POSTGRES_MAX_CONNECTIONS.source})",
            )
    yield from _capacity_problems(db)


def _capacity_problems(db: DatabaseConfig) -> Iterator[tuple[str, str]]:
    serverless = SERVERLESS in (db.instance_class, db.readers_class)
    low, high = db.serverless_min_acu, db.serverless_max_acu
    if not serverless:
        for key, value in (("serverless_min_acu", low), ("serverless_max_acu", high)):
            if value is not None:
                yield (
                    key,
                    f"value {value!r} not allowed: no instance is 'serverless' (remove it, or "
                    "set instance_class 'serverless')",
                )
        return
    if low is None or high is None:
        for key, value in (("serverless_min_acu", low), ("serverless_max_acu", high)):
            if value is None:
                yield (key, "missing key (required with instance_class 'serverless')")
        return
    if low == AURORA_SERVERLESS_V2_AUTO_PAUSE_MIN_ACU.value:
        yield (
            "serverless_min_acu",
            "value 0 not allowed: auto-pause needs an instance with no connections, and RDS "
            "Proxy keeps its pooled connections open, so the instance would never pause and you "
            "would pay for a promise that cannot hold; allowed 0.5..256 in steps of 0.5",
        )
    if high <= _ACU["highest_max_above"]:
        yield (
            "serverless_max_acu",
            f"value {high!r} out of range; allowed 1..256 in steps of 0.5 (the maximum must be "
            f"above 0.5: {AURORA_SERVERLESS_V2_ACU_RANGE.source})",
        )
    if low > high:
        yield (
            "serverless_min_acu",
            f"value {low!r} out of range; allowed 0.5..serverless_max_acu ({high!r})",
        )


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class ProxyConfig:
    """RDS Proxy login scheme and pool caps."""

    auth_mode: Annotated[StrictStr, OneOf(contract.AUTH_MODES)] = Field(
        description="`iam`: end-to-end IAM, no app secret; `secrets`: rotated app-user secret"
    )
    app_db_user: _Identifier = Field(
        description="Database user the functions log in as",
        json_schema_extra=doc(expects=contract.IDENTIFIER_HELP, note="≠ database.admin_username"),
    )
    max_connections_percent: StrictInt = Field(
        ge=1,
        le=100,
        description="MaxConnectionsPercent: the proxy's share of max_connections",
        json_schema_extra=doc(
            note="leaves ≥ database.admin_headroom_min_connections (`make budget` prints the bound)"
        ),
    )
    max_idle_connections_percent: StrictInt = Field(
        ge=0,
        le=100,
        description="MaxIdleConnectionsPercent",
        json_schema_extra=doc(note="≤ max_connections_percent"),
    )
    borrow_timeout_s: StrictInt = Field(
        ge=1,
        le=300,
        description="ConnectionBorrowTimeout",
        json_schema_extra=doc(note="< functions.timeout_s"),
    )
    idle_client_timeout_s: StrictInt = Field(ge=1, le=28800, description="IdleClientTimeout")
    read_only_endpoint: StrictBool = Field(
        default=False,
        description="A proxy endpoint with TargetRole READ_ONLY; the functions read through it "
        "(DB_READ_HOST)",
        json_schema_extra=doc(note="needs database.engine aurora-postgresql, reader_count ≥ 1"),
    )

    @model_validator(mode="after")
    def _rules(self) -> ProxyConfig:
        hold(self._problems())
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.max_idle_connections_percent > self.max_connections_percent:
            yield (
                "max_idle_connections_percent",
                f"value {self.max_idle_connections_percent} out of range; allowed "
                f"0..max_connections_percent ({self.max_connections_percent})",
            )


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class AppRoleConfig:
    """Server-side timeouts the migration sets on the app's database role (ALTER ROLE ... SET).

    Role settings, not session SETs: a SET would pin the client to one server connection, and
    RDS Proxy rejects them as startup options.
    """

    statement_timeout_ms: StrictInt = Field(
        ge=contract.STATEMENT_TIMEOUT_MS[0],
        le=contract.STATEMENT_TIMEOUT_MS[1],
        description="`statement_timeout`",
    )
    lock_timeout_ms: StrictInt = Field(
        ge=contract.LOCK_TIMEOUT_MS[0],
        le=contract.LOCK_TIMEOUT_MS[1],
        description="`lock_timeout`",
    )
    idle_in_transaction_timeout_ms: StrictInt = Field(
        ge=contract.IDLE_IN_TRANSACTION_TIMEOUT_MS[0],
        le=contract.IDLE_IN_TRANSACTION_TIMEOUT_MS[1],
        description="`idle_in_transaction_session_timeout`",
    )


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class FunctionsConfig:
    """Lambda runtime settings and the client-side caps."""

    architecture: Annotated[StrictStr, OneOf(("arm64", "x86_64"))] = Field(
        description="CPU architecture (wheels are bundled for it)"
    )
    memory_mb: StrictInt = Field(ge=128, le=10240, description="Memory of every function")
    timeout_s: StrictInt = Field(
        ge=1,
        le=LAMBDA_MAX_TIMEOUT_S.value,
        description="Timeout of the api and direct functions",
        json_schema_extra=doc(
            note="≥ connect + borrow + statement timeouts, ≤ api.integration_timeout_s"
        ),
    )
    migration_timeout_s: StrictInt = Field(
        ge=30, le=LAMBDA_MAX_TIMEOUT_S.value, description="Timeout of the migration function"
    )
    connect_timeout_s: StrictInt = Field(
        ge=contract.CONNECT_TIMEOUT_S[0],
        le=contract.CONNECT_TIMEOUT_S[1],
        description="Driver connect timeout",
    )
    api_reserved_concurrency: StrictInt = Field(
        ge=1, le=1000, description="Reserved concurrency (client-side cap) of the API function"
    )
    direct_reserved_concurrency: StrictInt = Field(
        ge=1, le=1000, description="Reserved concurrency of the direct-invoke function"
    )
    migration_reserved_concurrency: StrictInt = Field(
        ge=1, le=1, description="Reserved concurrency of the migration function"
    )
    log_retention_days: _LogRetention = Field(description="Function log retention")
    log_level: Annotated[StrictStr, OneOf(contract.LOG_LEVELS)] = Field(
        description="Powertools log level"
    )
    tracing: StrictBool = Field(description="Lambda active tracing (X-Ray)")


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class ApiConfig:
    """HTTP API integration timeout, throttling and access logs."""

    integration_timeout_s: StrictInt = Field(
        ge=1,
        le=HTTP_API_MAX_INTEGRATION_TIMEOUT_S.value,
        description="HTTP API integration timeout",
        json_schema_extra=doc(note="≥ functions.timeout_s"),
    )
    throttle_rate_limit: StrictInt = Field(
        ge=1, le=10000, description="Stage rate limit (requests/s)"
    )
    throttle_burst_limit: StrictInt = Field(ge=1, le=5000, description="Stage burst limit")
    access_log_retention_days: _LogRetention = Field(description="Access log retention")


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class MonitoringConfig:
    """Alarm policy and destinations: shares and counts; thresholds derive from the budget."""

    alarm_email: Annotated[StrictStr, check(_email_problem)] | None = Field(
        default=None,
        description="E-mail subscribed to the alarm topic",
        json_schema_extra=doc(expects="an e-mail address"),
    )
    alarm_topic_arn: StrictStr | None = Field(
        default=None,
        pattern=SNS_TOPIC_ARN.value,
        description="Existing SNS topic (chat, paging) that alarms notify too",
        json_schema_extra=doc(expects="an SNS topic ARN in the deploy region"),
    )
    alarm_destination_required: StrictBool = Field(
        default=False,
        description="Refuse to deploy (make deploy / make preflight) without alarm_email or "
        "alarm_topic_arn",
    )
    period_seconds: Annotated[StrictInt, check(_period_problem)] = Field(
        default=60,
        description="Alarm and dashboard period",
        json_schema_extra=doc(expects="10, 30 or a multiple of 60"),
    )
    db_connections_alarm_percent: StrictInt = Field(
        default=90,
        ge=1,
        le=100,
        description="DB connections alarm, % of max_connections",
        json_schema_extra=doc(note="> proxy.max_connections_percent"),
    )
    db_connections_evaluation_periods: StrictInt = Field(
        default=3, ge=1, le=100, description="Periods the DB connections alarm evaluates"
    )
    pool_saturation_percent: StrictInt = Field(
        default=90,
        ge=1,
        le=100,
        description="Proxy pool alarm, % of the proxy's connection ceiling",
    )
    pool_saturation_evaluation_periods: StrictInt = Field(
        default=5, ge=1, le=100, description="Periods the pool alarm evaluates"
    )
    pinned_connections_threshold: StrictInt = Field(
        default=5, ge=0, le=10_000, description="Session-pinned server connections tolerated"
    )
    pinned_evaluation_periods: StrictInt = Field(
        default=5, ge=1, le=100, description="Periods the pinning alarm evaluates"
    )
    borrow_latency_ms_threshold: StrictInt = Field(
        default=100,
        ge=1,
        le=120_000,
        description="Average connection borrow latency that alarms (ms)",
    )
    borrow_latency_evaluation_periods: StrictInt = Field(
        default=3, ge=1, le=100, description="Periods the borrow-latency alarm evaluates"
    )
    proxy_availability_percent: StrictFloat = Field(
        default=100.0, ge=1, le=100, description="Proxy availability below this alarms"
    )
    proxy_availability_evaluation_periods: StrictInt = Field(
        default=2, ge=1, le=100, description="Periods the availability alarm evaluates"
    )
    lambda_throttles_threshold: StrictInt = Field(
        default=1, ge=1, le=1_000_000, description="Throttled invocations per period"
    )
    lambda_errors_threshold: StrictInt = Field(
        default=1,
        ge=1,
        le=1_000_000,
        description="Failed invocations per period (unhandled errors)",
    )
    server_errors_threshold: StrictInt = Field(
        default=5,
        ge=1,
        le=1_000_000,
        description="Handled 5xx responses per period (API 5xx, the functions' ServerErrors "
        "metric)",
    )
    lambda_evaluation_periods: StrictInt = Field(
        default=1, ge=1, le=100, description="Periods the function and 5xx alarms evaluate"
    )
    db_cpu_percent: StrictInt = Field(default=80, ge=1, le=100, description="DB CPU alarm")
    db_cpu_evaluation_periods: StrictInt = Field(
        default=5, ge=1, le=100, description="Periods the CPU alarm evaluates"
    )
    free_storage_gib: StrictFloat = Field(
        default=2.0, ge=0.1, le=65_536, description="DB free-storage floor"
    )
    free_storage_evaluation_periods: StrictInt = Field(
        default=1, ge=1, le=100, description="Periods the storage alarm evaluates"
    )
    replica_lag_ms_threshold: StrictInt = Field(
        default=1000,
        ge=1,
        le=3_600_000,
        description="Aurora: worst reader's AuroraReplicaLag that alarms (ms)",
    )
    replica_lag_evaluation_periods: StrictInt = Field(
        default=3, ge=1, le=100, description="Periods the replica-lag alarm evaluates"
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


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class AppConfig:
    """Everything one environment deploys; built once and passed down.

    Its sections are the keys of `environments.<name>` in cdk.json, in cdk.json order; the
    rules between sections, and the connection and timeout budgets, are checked here.
    """

    project: ProjectConfig
    env_name: StrictStr
    network: NetworkConfig
    database: DatabaseConfig
    proxy: ProxyConfig
    app_role: AppRoleConfig
    functions: FunctionsConfig
    api: ApiConfig
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @property
    def data_stack_name(self) -> str:
        return stack_names(self.project.app_name, self.env_name)[0]

    @property
    def service_stack_name(self) -> str:
        return stack_names(self.project.app_name, self.env_name)[1]

    @property
    def stack_names(self) -> tuple[str, str]:
        """(data, service): what make deploy, diff and destroy and the workflows select."""
        return stack_names(self.project.app_name, self.env_name)

    def required_endpoints(self) -> dict[str, str]:
        """Interface endpoints this configuration needs (isolated subnets), with reasons."""
        return self.network.required_endpoints()

    @model_validator(mode="after")
    def _rules(self) -> AppConfig:
        hold(self._problems())
        hold(budget_problems(self))  # the budgets are computed for values the rules accept
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        px, fn, mon = self.proxy, self.functions, self.monitoring
        if px.borrow_timeout_s >= fn.timeout_s:
            yield (
                "proxy.borrow_timeout_s",
                f"value {px.borrow_timeout_s} out of range; allowed 1..{fn.timeout_s - 1} "
                f"(must be below functions.timeout_s = {fn.timeout_s})",
            )
        if px.app_db_user == self.database.admin_username:
            yield (
                "proxy.app_db_user",
                f"value {px.app_db_user!r} must differ from database.admin_username",
            )
        if px.read_only_endpoint and self.database.readers == 0:
            yield (
                "proxy.read_only_endpoint",
                "value true needs readers: set database.reader_count ≥ 1 (engine "
                "'aurora-postgresql'; RDS Proxy cannot create a read-only endpoint for a "
                "database without readers) or set it to false",
            )
        if mon.db_connections_alarm_percent <= px.max_connections_percent:
            yield (
                "monitoring.db_connections_alarm_percent",
                f"value {mon.db_connections_alarm_percent} out of range; allowed "
                f"{px.max_connections_percent + 1}..100 (above proxy.max_connections_percent, "
                "or a full proxy pool alone raises the alarm)",
            )


def stack_names(app_name: str, env_name: str) -> tuple[str, str]:
    """(data, service): the stacks of one environment, as app.py names them."""
    return f"{app_name}-{env_name}-Data", f"{app_name}-{env_name}-Service"


# --- CI (context key `ci`: deploying from GitHub Actions) -----------------------------------

_GITHUB_REPOSITORY = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$"
_GIT_BRANCH = r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*/$)[A-Za-z0-9._/-]{1,200}$"
_GITHUB_ENVIRONMENT = r"^[A-Za-z0-9._-]{1,100}$"


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class CiEnvironmentConfig:
    """One environment the deploy workflow deploys, in order (an item of `ci.environments`)."""

    env: StrictStr = Field(
        pattern=_ENV_NAME.pattern,
        description="The environment (a key of context.environments)",
        json_schema_extra=doc(expects="a key of context.environments"),
    )
    github_environment: StrictStr = Field(
        pattern=_GITHUB_ENVIRONMENT,
        description="GitHub environment its deploy job runs in (reviewers, deployment branches); "
        "its deploy role trusts exactly repo:<repository>:environment:<this>",
        json_schema_extra=doc(expects="letters, digits, '.', '_' and '-', 1..100"),
    )


@dataclass(frozen=True, kw_only=True, config=_SCHEMA)
class CiConfig:
    """GitHub Actions deploys through OIDC (context key `ci`; optional): `make ci-access`."""

    repository: StrictStr = Field(
        pattern=_GITHUB_REPOSITORY,
        description="GitHub repository whose workflows may assume the CI roles",
        json_schema_extra=doc(expects="owner/name, as GitHub spells it (case matters)"),
    )
    account: StrictStr = Field(
        pattern=ACCOUNT_ID.value,
        description="AWS account the workflows deploy to; make ci-access refuses another",
        json_schema_extra=doc(expects="12 digits"),
    )
    region: StrictStr = Field(
        pattern=REGION_NAME.value,
        description="Region of the environments and the CI roles (the bootstrap roles are "
        "regional)",
        json_schema_extra=doc(expects="a region code such as eu-west-1"),
    )
    branch: StrictStr = Field(
        default="main",
        pattern=_GIT_BRANCH,
        description="Branch whose pushes deploy (the deploy workflow's trigger)",
        json_schema_extra=doc(expects="a branch name without wildcards"),
    )
    environments: tuple[CiEnvironmentConfig, ...] = Field(
        min_length=1,
        description="Environments the deploy workflow walks, in this order",
        json_schema_extra=doc(note="each env once, each GitHub environment once"),
    )
    oidc_provider_arn: StrictStr | None = Field(
        default=None,
        pattern=GITHUB_OIDC_PROVIDER_ARN.value,
        description="null: the stack creates the account's GitHub OIDC provider; an ARN: reuse "
        "that one (one per account)",
        json_schema_extra=doc(
            expects="arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com"
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> CiConfig:
        hold(self._problems())
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        for key in ("env", "github_environment"):
            values = [getattr(item, key) for item in self.environments]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                yield (
                    f"environments.{key}",
                    f"value {repeated[0]!r} appears more than once; each may appear once",
                )


# The sections of one environment, in cdk.json order.
SECTIONS: dict[str, type] = {
    name: section
    for name, info in schema_fields(AppConfig).items()
    if name not in _SET_BY_LOADER and (section := section_of(info)) is not None
}


# --- parsing --------------------------------------------------------------------------------


T = TypeVar("T")


def _validated(model: type[T], raw: object, where: str, not_keys: Collection[str] = ()) -> T:
    """`raw` as a `model`, or a ConfigError with one line per problem (no pydantic traceback)."""
    try:
        return TypeAdapter(model).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(*problems(exc, model, where, not_keys)) from None


def parse_project(raw: object) -> ProjectConfig:
    return _validated(ProjectConfig, raw, "project")


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
    """Validate one environment's section of cdk.json: keys, rules between them, budgets."""
    where = f"environments.{env_name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object, got {got(raw)}")
    for key in _SET_BY_LOADER:
        if key in raw:
            raise ConfigError(
                f"{where}.{key}: unknown key (value {raw[key]!r}); allowed keys: "
                f"{', '.join(sorted(SECTIONS))}"
            )
    full = {**raw, "project": project, "env_name": env_name}
    return _validated(AppConfig, full, where, not_keys=_SET_BY_LOADER)


def parse_ci(raw: object, known: tuple[str, ...]) -> CiConfig | None:
    """Validate `ci` (None when cdk.json has no such section): keys, then that every env it
    deploys is a key of context.environments."""
    if raw is None:
        return None
    ci = _validated(CiConfig, raw, "ci")
    for item in ci.environments:
        if item.env not in known:
            raise ConfigError(
                f"ci.environments.env: value {item.env!r} not allowed; allowed: "
                f"{', '.join(known)} (the keys of context.environments in cdk.json)"
            )
    return ci
