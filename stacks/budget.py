"""Connection and timeout budgets: computed once, checked by the schema, shown by make budget."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stacks.aws_facts import HTTP_API_MAX_INTEGRATION_TIMEOUT_S, LAMBDA_UNRESERVED_MINIMUM

if TYPE_CHECKING:  # the schema validates with these numbers: it imports this module
    from stacks.config import AppConfig

# RDS PostgreSQL: max_connections = LEAST({DBInstanceClassMemory/9531392}, 5000).
MAX_CONNECTIONS_DIVISOR = 9_531_392
MAX_CONNECTIONS_CAP = 5000
GIB = 1024**3

# DBInstanceClassMemory is below nominal RAM (the OS and RDS agents keep some). Values for 2, 4
# and 8 GiB are back-computed from measured max_connections (198, 413, 856); the others are
# estimates (1 GiB: low end of the observed 80-90; >= 16 GiB: 95 % of nominal, the 8 GiB ratio).
_CLASS_MEMORY_BYTES: dict[int, tuple[int, str]] = {
    1: (80 * MAX_CONNECTIONS_DIVISOR, "estimate"),
    2: (198 * MAX_CONNECTIONS_DIVISOR, "measured"),
    4: (413 * MAX_CONNECTIONS_DIVISOR, "measured"),
    8: (856 * MAX_CONNECTIONS_DIVISOR, "measured"),
}

_SIZE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
# Memory-optimised families have twice the memory of general-purpose ones per size.
_FAMILY_FACTOR = {
    "t3": 1,
    "t4g": 1,
    "m5": 1,
    "m6g": 1,
    "m6i": 1,
    "m7g": 1,
    "m8g": 1,
    "r5": 2,
    "r6g": 2,
    "r6i": 2,
    "r7g": 2,
    "r8g": 2,
}


class BudgetError(ValueError):
    """A value the budget cannot work with: the key (within an environment) and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


def instance_memory_gib(instance_class: str) -> int:
    """Nominal memory of an RDS instance class such as "t4g.small" (with or without "db.")."""
    name = instance_class.removeprefix("db.")
    family, _, size = name.partition(".")
    if family not in _FAMILY_FACTOR or size not in _SIZE_GIB:
        raise BudgetError(
            "database.instance_class",
            f"value {instance_class!r} not allowed; allowed families "
            f"{', '.join(sorted(_FAMILY_FACTOR))} with sizes {', '.join(_SIZE_GIB)}",
        )
    if family.startswith("t") and _SIZE_GIB[size] > 32:
        raise BudgetError("database.instance_class", f"value {instance_class!r} does not exist")
    return _SIZE_GIB[size] * _FAMILY_FACTOR[family]


def default_max_connections(instance_class: str) -> tuple[int, int, str]:
    """(nominal GiB, PostgreSQL default max_connections, "measured"|"estimate")."""
    gib = instance_memory_gib(instance_class)
    mem_bytes, source = _CLASS_MEMORY_BYTES.get(gib, (int(gib * GIB * 0.95), "estimate"))
    return gib, min(mem_bytes // MAX_CONNECTIONS_DIVISOR, MAX_CONNECTIONS_CAP), source


@dataclass(frozen=True)
class ConnectionBudget:
    instance_class: str
    memory_gib: int
    max_connections: int
    max_connections_source: str
    max_connections_percent: int
    proxy_ceiling: int
    idle_ceiling: int
    headroom: int
    headroom_min: int
    max_percent_allowed: int
    reserved_concurrency: dict[str, int]

    @property
    def account_concurrency_needed(self) -> int:
        """Lambda account limit this environment needs: its reserved sum + what Lambda keeps."""
        return sum(self.reserved_concurrency.values()) + LAMBDA_UNRESERVED_MINIMUM.value


@dataclass(frozen=True)
class TimeoutBudget:
    connect_timeout_s: float
    borrow_timeout_s: float
    statement_timeout_s: float
    worst_case_s: float
    lambda_timeout_s: int
    api_integration_timeout_s: int


def proxy_ceiling(max_connections: int, max_connections_percent: int) -> int:
    """Server connections the proxy may open: floor(max_connections x percent / 100), at least 1.

    The one formula for the proxy's ceiling (RDS Proxy rounds down); the burst lab sizes its
    PgBouncer stand-in with it too.
    """
    return max(1, max_connections * max_connections_percent // 100)


def max_proxy_percent(max_connections: int, headroom_min: int) -> int:
    """The largest MaxConnectionsPercent that leaves `headroom_min` connections outside the pool
    (0 if none does), with the same rounding as `proxy_ceiling`."""
    fits = [
        p
        for p in range(1, 101)
        if max_connections - proxy_ceiling(max_connections, p) >= headroom_min
    ]
    return max(fits, default=0)


def connection_budget(config: AppConfig) -> ConnectionBudget:
    db, px, fn = config.database, config.proxy, config.functions
    gib, max_conn, source = default_max_connections(db.instance_class)
    ceiling = proxy_ceiling(max_conn, px.max_connections_percent)
    return ConnectionBudget(
        instance_class=db.instance_class,
        memory_gib=gib,
        max_connections=max_conn,
        max_connections_source=source,
        max_connections_percent=px.max_connections_percent,
        proxy_ceiling=ceiling,
        idle_ceiling=max_conn * px.max_idle_connections_percent // 100,
        headroom=max_conn - ceiling,
        headroom_min=db.admin_headroom_min_connections,
        max_percent_allowed=max_proxy_percent(max_conn, db.admin_headroom_min_connections),
        reserved_concurrency={
            "api": fn.api_reserved_concurrency,
            "direct": fn.direct_reserved_concurrency,
            "migration": fn.migration_reserved_concurrency,
        },
    )


def timeout_budget(config: AppConfig) -> TimeoutBudget:
    fn = config.functions
    connect, borrow = float(fn.connect_timeout_s), float(config.proxy.borrow_timeout_s)
    statement = config.app_role.statement_timeout_ms / 1000
    return TimeoutBudget(
        connect_timeout_s=connect,
        borrow_timeout_s=borrow,
        statement_timeout_s=statement,
        worst_case_s=connect + borrow + statement,
        lambda_timeout_s=fn.timeout_s,
        api_integration_timeout_s=config.api.integration_timeout_s,
    )


def budget_problems(config: AppConfig) -> Iterator[tuple[str, str]]:
    """Each budget `config` violates: (key within the environment, the value and what is
    allowed). AppConfig's validator reports them; the instance class is already known then."""
    cb = connection_budget(config)
    if cb.headroom < cb.headroom_min:
        yield (
            "proxy.max_connections_percent",
            f"value {cb.max_connections_percent} leaves {cb.headroom} of {cb.max_connections} "
            f"connections ({cb.instance_class}) for admin work; "
            f"database.admin_headroom_min_connections requires {cb.headroom_min}: "
            f"allowed 1..{cb.max_percent_allowed}",
        )
    # The migration function connects directly (outside the proxy): it must fit in the headroom.
    if cb.reserved_concurrency["migration"] > cb.headroom:
        yield (
            "functions.migration_reserved_concurrency",
            f"value {cb.reserved_concurrency['migration']} exceeds the admin headroom "
            f"{cb.headroom}",
        )
    tb = timeout_budget(config)
    if tb.worst_case_s > tb.lambda_timeout_s:
        yield (
            "functions.timeout_s",
            f"value {tb.lambda_timeout_s} is below connect ({tb.connect_timeout_s:g}) + borrow "
            f"({tb.borrow_timeout_s:g}) + statement ({tb.statement_timeout_s:g}) = "
            f"{tb.worst_case_s:g} s; allowed {tb.worst_case_s:g}..{tb.api_integration_timeout_s}",
        )
    if tb.lambda_timeout_s > tb.api_integration_timeout_s:
        yield (
            "api.integration_timeout_s",
            f"value {tb.api_integration_timeout_s} is below functions.timeout_s "
            f"({tb.lambda_timeout_s}); allowed {tb.lambda_timeout_s}.."
            f"{HTTP_API_MAX_INTEGRATION_TIMEOUT_S.value}",
        )


def data_summary(config: AppConfig) -> str:
    """The data tier's budget in one line (the Data stack's description: no service settings)."""
    cb = connection_budget(config)
    return (
        f"budget: {cb.instance_class} max_connections={cb.max_connections} "
        f"proxy_ceiling={cb.proxy_ceiling} ({cb.max_connections_percent}%) "
        f"headroom={cb.headroom} (min {cb.headroom_min})"
    )


def summary_line(config: AppConfig) -> str:
    """One line for the synth output: both budgets."""
    tb = timeout_budget(config)
    return (
        f"{config.env_name} {data_summary(config)}; timeouts {tb.worst_case_s:g}s <= lambda "
        f"{tb.lambda_timeout_s}s <= api {tb.api_integration_timeout_s}s"
    )
