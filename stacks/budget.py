"""Connection and timeout budgets: computed once, checked by the schema, shown by make budget."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stacks.aws_facts import (
    AURORA_POSTGRES_MAX_CONNECTIONS,
    HTTP_API_MAX_INTEGRATION_TIMEOUT_S,
    LAMBDA_UNRESERVED_MINIMUM,
    RDS_ENGINE_AURORA_POSTGRES,
    RDS_ENGINE_POSTGRES,
)

if TYPE_CHECKING:  # the schema validates with these numbers: it imports this module
    from stacks.config import AppConfig

# RDS PostgreSQL: max_connections = LEAST({DBInstanceClassMemory/9531392}, 5000).
MAX_CONNECTIONS_DIVISOR = 9_531_392
MAX_CONNECTIONS_CAP = 5000
GIB = 1024**3
MEASURED, DOCUMENTED, ESTIMATE = "measured", "documented", "estimate"

# DBInstanceClassMemory is below nominal RAM (the OS and RDS agents keep some), and AWS publishes
# no per-class value for RDS for PostgreSQL. Values for 2, 4 and 8 GiB are back-computed from
# measured max_connections (198, 413, 856; every class of that memory gets them). The others
# are estimates: 1 GiB takes the low end of the observed 80-90; 16 GiB and up keep the 8 GiB
# share of nominal memory, 856 x 9531392 / 8 GiB = 95 %, so 16 GiB -> 1712 and 32 GiB -> 3424;
# from 48 GiB on the 5000 cap applies whatever the share. Aurora PostgreSQL's documented values
# are in stacks/aws_facts.py (AURORA_POSTGRES_MAX_CONNECTIONS).
_CLASS_MEMORY_BYTES: dict[int, tuple[int, str]] = {
    1: (80 * MAX_CONNECTIONS_DIVISOR, ESTIMATE),
    2: (198 * MAX_CONNECTIONS_DIVISOR, MEASURED),
    4: (413 * MAX_CONNECTIONS_DIVISOR, MEASURED),
    8: (856 * MAX_CONNECTIONS_DIVISOR, MEASURED),
}
_ESTIMATED_MEMORY_SHARE = 0.95

# The families and sizes RDS for PostgreSQL offers (current generations), with their nominal
# memory: burstable sizes by name; the others scale from their .large (general purpose 8 GiB,
# memory optimised 16 GiB, x2g 32 GiB) with the vCPU count.
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_LARGE_MULTIPLE = {
    "large": 1,
    "xlarge": 2,
    "2xlarge": 4,
    "4xlarge": 8,
    "8xlarge": 16,
    "12xlarge": 24,
    "16xlarge": 32,
    "24xlarge": 48,
    "32xlarge": 64,
}
_UP_TO_16X = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_UP_TO_24X = (*_UP_TO_16X, "24xlarge")
_UP_TO_32X = (*_UP_TO_24X, "32xlarge")
# family -> (GiB of its .large, its sizes)
_FAMILIES: dict[str, tuple[int, tuple[str, ...]]] = {
    "m5": (8, _UP_TO_24X),
    "m6g": (8, _UP_TO_16X),
    "m6i": (8, _UP_TO_32X),
    "m7g": (8, _UP_TO_16X),
    "m8g": (8, _UP_TO_16X),
    "r5": (16, _UP_TO_24X),
    "r6g": (16, _UP_TO_16X),
    "r6i": (16, _UP_TO_32X),
    "r7g": (16, _UP_TO_16X),
    "r8g": (16, _UP_TO_16X),
    "x2g": (32, _UP_TO_16X),
}
_BURSTABLE_FAMILIES = ("t3", "t4g")


@dataclass(frozen=True)
class ClassMaxConnections:
    """Nominal memory and default max_connections of one instance class, and how it is known."""

    memory_gib: int
    max_connections: int
    source: str  # MEASURED | DOCUMENTED | ESTIMATE


def _default_for_memory(gib: int) -> ClassMaxConnections:
    mem_bytes, source = _CLASS_MEMORY_BYTES.get(
        gib, (int(gib * GIB * _ESTIMATED_MEMORY_SHARE), ESTIMATE)
    )
    return ClassMaxConnections(
        gib, min(mem_bytes // MAX_CONNECTIONS_DIVISOR, MAX_CONNECTIONS_CAP), source
    )


def _class_memory() -> dict[str, int]:
    memory = {
        f"{f}.{size}": gib for f in _BURSTABLE_FAMILIES for size, gib in _BURSTABLE_GIB.items()
    }
    for family, (large_gib, sizes) in _FAMILIES.items():
        memory |= {f"{family}.{size}": large_gib * _LARGE_MULTIPLE[size] for size in sizes}
    return memory


# Class (without "db.") -> default max_connections on RDS for PostgreSQL.
RDS_POSTGRES_MAX_CONNECTIONS: dict[str, ClassMaxConnections] = {
    name: _default_for_memory(gib) for name, gib in _class_memory().items()
}


# The reference app's functions that connect through the proxy pool (ConnectionBudget keys).
PROXY_POOL_FUNCTIONS = ("api", "direct")


class BudgetError(ValueError):
    """A value the budget cannot work with: the key (within an environment) and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


def instance_memory_gib(instance_class: str) -> int:
    """Nominal memory of an RDS instance class such as "t4g.small" (with or without "db.")."""
    known = RDS_POSTGRES_MAX_CONNECTIONS.get(instance_class.removeprefix("db."))
    if known is None:
        families = sorted((*_BURSTABLE_FAMILIES, *_FAMILIES))
        raise BudgetError(
            "database.instance_class",
            f"value {instance_class!r} not allowed; allowed: an RDS for PostgreSQL class of the "
            f"families {', '.join(families)} (burstable micro..2xlarge, the others from large; "
            "the list is stacks/budget.py RDS_POSTGRES_MAX_CONNECTIONS)",
        )
    return known.memory_gib


def default_max_connections(
    instance_class: str, *, engine: str = RDS_ENGINE_POSTGRES.value
) -> tuple[int, int, str]:
    """(nominal GiB, default max_connections, "measured"|"documented"|"estimate") of a class on
    RDS for PostgreSQL, or on Aurora PostgreSQL (`engine="aurora-postgresql"`: AWS documents
    its values for some classes; the others take the RDS for PostgreSQL estimate)."""
    name = instance_class.removeprefix("db.")
    gib = instance_memory_gib(name)
    documented = AURORA_POSTGRES_MAX_CONNECTIONS.value.get(name)
    if engine == RDS_ENGINE_AURORA_POSTGRES.value and documented is not None:
        return gib, documented, DOCUMENTED
    known = RDS_POSTGRES_MAX_CONNECTIONS[name]
    return gib, known.max_connections, known.source


@dataclass(frozen=True)
class ConnectionBudget:
    instance_class: str
    memory_gib: int | None  # None: a class the table does not know (make diagnose, overridden)
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
    def pool_reserved(self) -> dict[str, int]:
        """Reserved concurrency of the functions that connect through the proxy pool."""
        return {k: v for k, v in self.reserved_concurrency.items() if k in PROXY_POOL_FUNCTIONS}

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


def pool_budget(
    *,
    instance_class: str,
    memory_gib: int | None,
    max_connections: int,
    max_connections_source: str,
    max_connections_percent: int,
    max_idle_connections_percent: int,
    headroom_min: int,
    reserved_concurrency: Mapping[str, int],
) -> ConnectionBudget:
    """The proxy pool on a database with `max_connections`: what `make budget` prints for an
    environment (connection_budget) and what `make diagnose` proposes for an existing one."""
    ceiling = proxy_ceiling(max_connections, max_connections_percent)
    return ConnectionBudget(
        instance_class=instance_class,
        memory_gib=memory_gib,
        max_connections=max_connections,
        max_connections_source=max_connections_source,
        max_connections_percent=max_connections_percent,
        proxy_ceiling=ceiling,
        idle_ceiling=max_connections * max_idle_connections_percent // 100,
        headroom=max_connections - ceiling,
        headroom_min=headroom_min,
        max_percent_allowed=max_proxy_percent(max_connections, headroom_min),
        reserved_concurrency=dict(reserved_concurrency),
    )


def connection_budget(config: AppConfig) -> ConnectionBudget:
    db, px, fn = config.database, config.proxy, config.functions
    gib, max_conn, source = default_max_connections(db.instance_class)
    return pool_budget(
        instance_class=db.instance_class,
        memory_gib=gib,
        max_connections=max_conn,
        max_connections_source=source,
        max_connections_percent=px.max_connections_percent,
        max_idle_connections_percent=px.max_idle_connections_percent,
        headroom_min=db.admin_headroom_min_connections,
        reserved_concurrency={
            "api": fn.api_reserved_concurrency,
            "direct": fn.direct_reserved_concurrency,
            "migration": fn.migration_reserved_concurrency,
        },
    )


def no_queue_excess(reserved_on_pool: Mapping[str, int], pool_ceiling: int) -> int:
    """The no-queue rule: by how many executions the summed reserved concurrency of the functions
    that share one proxy pool exceeds that pool's server-connection ceiling (0: the rule holds).

    Each execution environment holds at most one connection and runs one transaction at a time,
    so when the sum is at most the ceiling every execution gets a server connection at once and
    none waits in the proxy's borrow queue (where a burst turns into borrow timeouts). Here the
    pool functions are PROXY_POOL_FUNCTIONS of ConnectionBudget.reserved_concurrency (the
    migration function connects directly and must fit in the headroom instead). Synth warns
    when it does not hold (`no_queue_warning`; a function on the pool always has reserved
    concurrency: the schema requires it); `make diagnose` sizes reserved concurrency with it.
    """
    return max(0, sum(reserved_on_pool.values()) - pool_ceiling)


def no_queue_warning(cb: ConnectionBudget) -> str | None:
    """The no-queue rule for `cb`'s pool in words when it does not hold (None when it does)."""
    excess = no_queue_excess(cb.pool_reserved, cb.proxy_ceiling)
    if excess == 0:
        return None
    keys = " + ".join(f"functions.{name}_reserved_concurrency" for name in cb.pool_reserved)
    figures = " + ".join(str(v) for v in cb.pool_reserved.values())
    return (
        f"{keys} = {figures} = {sum(cb.pool_reserved.values())} exceeds the proxy pool's "
        f"server-connection ceiling {cb.proxy_ceiling} ({cb.max_connections_percent} % of "
        f"{cb.max_connections}) by {excess}: at full concurrency that many executions wait for a "
        "connection, up to proxy.borrow_timeout_s. Lower the reserved concurrency or raise "
        "proxy.max_connections_percent (make budget)."
    )


def no_queue_split(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Reserved concurrency per function that sums to `total` (at most a pool's ceiling, so the
    no-queue rule holds), shared in proportion to `weights` by largest remainder; every function
    gets at least 1 while `total` allows."""
    total, names = max(0, total), sorted(weights)
    if not names:
        return {}
    floor_each = 1 if total >= len(names) else 0
    spare = total - floor_each * len(names)
    clean = {n: max(0.0, float(weights[n])) for n in names}
    if sum(clean.values()) == 0:
        clean = dict.fromkeys(names, 1.0)
    shares = {n: spare * clean[n] / sum(clean.values()) for n in names}
    split = {n: floor_each + int(shares[n]) for n in names}
    by_remainder = sorted(names, key=lambda n: (int(shares[n]) - shares[n], n))
    for name in by_remainder[: total - sum(split.values())]:
        split[name] += 1
    return split


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
