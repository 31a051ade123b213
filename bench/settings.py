"""Run settings: scenarios, presets and the stand-in's pool size derived from the dev config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.auth import DEFAULT_AUTH_MODEL
from stacks.budget import proxy_ceiling
from stacks.loader import load

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"

# Scenario names are the JSON `name` values and the --scenarios choices.
PER_INVOCATION = "direct-per-invocation"
MODULE_DIRECT = "direct-module-scope"
MODULE_POOLED = "pooled-module-scope"
POOL_K_DIRECT = "direct-pool-k"
SCENARIOS = (PER_INVOCATION, MODULE_DIRECT, MODULE_POOLED, POOL_K_DIRECT)
# Not a burst: the same read-heavy load through the writer pool alone and with a reader (a
# hot-standby replica and its own pool), in back-to-back rounds; its paths are the two below.
READ_SPLIT = "read-split"
SCENARIO_CHOICES = (*SCENARIOS, READ_SPLIT)
SPLIT_WRITER_ONLY = "read-split-writer-only"
SPLIT_WITH_READER = "read-split-with-reader"
SCENARIO_LABELS = {
    PER_INVOCATION: "1. connect per invocation, direct",
    MODULE_DIRECT: "2. module-scope connection, direct",
    MODULE_POOLED: "3. module-scope connection, via PgBouncer (deployed design)",
    POOL_K_DIRECT: "4. module-scope pool of k, direct",
    SPLIT_WRITER_ONLY: "writer only (no DB_READ_HOST): reads and writes through the writer pool",
    SPLIT_WITH_READER: "with a reader (DB_READ_HOST): reads through the reader pool, writes on "
    "the writer",
}

# The seed's flash sale: 20 -> 800 req/s while 500 environments come up.
SEED_START_RPS = 20.0
SEED_HOLD_RPS = 800.0
SEED_CONCURRENCY = 500

PRESETS: dict[str, dict[str, object]] = {
    # A minute-long look at the same shape with fewer environments.
    "quick": {"concurrency": 200, "duration": 12.0, "ramp": 4.0},
    # What the smoke test runs: a small cluster so a few seconds exceed max_connections.
    "smoke": {
        "concurrency": 40,
        "duration": 4.0,
        "ramp": 1.0,
        "rate": 64.0,
        "max_connections": 20,
        "fair_concurrency": 0,  # the fair comparison needs tens of seconds: not in the smoke test
    },
}

# The fair warm-path comparison: direct and pooled at the same offered load (the burst's hold
# rate) with a concurrency direct can serve, warm-up excluded, in the order direct, pooled,
# pooled, direct (ABBA) so a drift in machine load weighs on both paths alike.
# Four rounds per path (ABBA ABBA, 8 x 12 s): the verdict is the median of the four
# back-to-back pairs' p99 ratios, so one round disturbed by another job cannot flip it.
POOLER_MIN_POOL = 0
FAIR_CONCURRENCY = 60
FAIR_DURATION_S = 12.0
FAIR_WARMUP_S = 3.0
FAIR_ROUNDS = 4
# The read-split comparison: as many environments as a small fleet, at the burst's hold rate,
# fresh pools per round (so each round's peak is the server connections that load needs), ABBA.
READ_SPLIT_CONCURRENCY = 200
READ_SPLIT_DURATION_S = 12.0
READ_SPLIT_WARMUP_S = 3.0
READ_SPLIT_ROUNDS = 4
# Its mix: reads dominate, as on the GET-heavy services readers are for (gets of seeded orders).
READ_SPLIT_MIX = {"get": 0.45, "list": 0.45, "create": 0.10}


@dataclass(frozen=True)
class ProxyModel:
    """The dev config's proxy settings, applied to the local PostgreSQL."""

    max_connections_percent: int
    borrow_timeout_s: int
    idle_client_timeout_s: int
    connect_timeout_s: int
    statement_timeout_ms: int
    lock_timeout_ms: int
    idle_in_transaction_timeout_ms: int
    app_db_user: str
    database_name: str
    source: str


def load_proxy_model(env_name: str | None = None) -> ProxyModel:
    """Read the proxy and function settings the stacks deploy (stacks.loader, cdk.json).

    No fallback: a lab that silently used other numbers than the deployed config would measure
    something nobody deploys, so a broken cdk.json fails here with the config's own message.
    """
    config = load(env_name)
    return ProxyModel(
        max_connections_percent=config.proxy.max_connections_percent,
        borrow_timeout_s=config.proxy.borrow_timeout_s,
        idle_client_timeout_s=config.proxy.idle_client_timeout_s,
        connect_timeout_s=config.functions.connect_timeout_s,
        statement_timeout_ms=config.app_role.statement_timeout_ms,
        lock_timeout_ms=config.app_role.lock_timeout_ms,
        idle_in_transaction_timeout_ms=config.app_role.idle_in_transaction_timeout_ms,
        app_db_user=config.proxy.app_db_user,
        database_name=config.database.database_name,
        source=f"stacks.loader (cdk.json: environments.{config.env_name})",
    )


@dataclass(frozen=True)
class BenchSettings:
    concurrency: int = SEED_CONCURRENCY
    duration_s: float = 30.0
    ramp_s: float = 10.0
    rate_rps: float | None = None  # at hold; None = the seed's 800 req/s
    scenarios: tuple[str, ...] = SCENARIO_CHOICES
    pool_k: int = 2
    max_connections: int = 100
    workers: int = 2
    seed: int = 42
    out_dir: Path = RESULTS_DIR
    write_files: bool = True
    chart: bool = True
    progress: bool = True
    proxy: ProxyModel = field(default_factory=load_proxy_model)
    fair_concurrency: int = FAIR_CONCURRENCY  # 0 = no fair comparison
    fair_duration_s: float = FAIR_DURATION_S
    fair_warmup_s: float = FAIR_WARMUP_S
    fair_rounds: int = FAIR_ROUNDS
    auth_model: str = DEFAULT_AUTH_MODEL  # bench.auth: iam-like or scram-4096
    # A sweep (--concurrency 500,1000,...) runs every level; () means just ``concurrency``.
    levels: tuple[int, ...] = ()
    repeat: int = 1
    # PgBouncer min_pool_size: server connections it keeps open (RDS Proxy keeps an idle pool,
    # MaxIdleConnectionsPercent); 0 = PgBouncer's default, grow only on demand.
    pooler_min_pool: int = 0  # passes per level; the report gives each figure's median and spread
    read_split_concurrency: int = READ_SPLIT_CONCURRENCY
    read_split_duration_s: float = READ_SPLIT_DURATION_S
    read_split_warmup_s: float = READ_SPLIT_WARMUP_S
    read_split_rounds: int = READ_SPLIT_ROUNDS

    @property
    def concurrency_levels(self) -> tuple[int, ...]:
        return self.levels or (self.concurrency,)

    @property
    def hold_rps(self) -> float:
        # The seed's peak is a request rate; more environments at the same rate means more
        # connections wanted, which is what the pooler has to absorb.
        return self.rate_rps if self.rate_rps is not None else SEED_HOLD_RPS

    @property
    def interval_s(self) -> float:
        """Each environment sends one request per interval (when its last one has finished)."""
        return self.concurrency / self.hold_rps

    @property
    def fair_interval_s(self) -> float:
        """Per-environment interval of the fair comparison: the same hold rate, fewer envs."""
        return self.fair_concurrency / self.hold_rps

    @property
    def fair_order(self) -> tuple[str, ...]:
        """ABBA rounds: direct, pooled, pooled, direct, ... (``fair_rounds`` of each path)."""
        pair = (MODULE_DIRECT, MODULE_POOLED)
        return tuple(
            name for i in range(self.fair_rounds) for name in (pair if i % 2 == 0 else pair[::-1])
        )

    @property
    def burst_scenarios(self) -> tuple[str, ...]:
        return tuple(name for name in self.scenarios if name in SCENARIOS)

    @property
    def read_split_order(self) -> tuple[str, ...]:
        """ABBA rounds: writer only, with reader, with reader, writer only, ..."""
        pair = (SPLIT_WRITER_ONLY, SPLIT_WITH_READER)
        return tuple(
            name
            for i in range(self.read_split_rounds)
            for name in (pair if i % 2 == 0 else pair[::-1])
        )

    @property
    def pool_size(self) -> int:
        return proxy_ceiling(self.max_connections, self.proxy.max_connections_percent)
