"""Orchestration: start the servers, set up once, run each scenario (repeated, per level)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from bench import settings as S
from bench.auth import apply_auth_model
from bench.console import Progress, signals_raise
from bench.engine import BurstEngine, BurstOutcome, BurstSpec, Shape
from bench.machine import loadavg, machine_info
from bench.repeat import compact, repeat_summary, sweep_summary
from bench.results import ScenarioRun, fair_comparison, rounded
from bench.stats import activation_times, percentile, ramp_start_environments
from bench.worker import BenchWork
from localpg import LocalPgBouncer, LocalPostgres

DRAIN_TIMEOUT_S = 15.0

MODES = {
    S.PER_INVOCATION: "per-invocation",
    S.MODULE_DIRECT: "module",
    S.MODULE_POOLED: "module",
    S.POOL_K_DIRECT: "pool",
}


def drain(pg: LocalPostgres, role: str) -> int:
    """Wait until the role has no server connections left; terminate stragglers after a while."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    count = -1
    while time.monotonic() < deadline:
        rows = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,))
        count = int(rows[0][0])
        if count == 0:
            return 0
        time.sleep(0.1)
    pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
    return count


@dataclass(frozen=True)
class Prepared:
    """What every pass shares: the direct target, the seeded catalog, setup facts."""

    direct: Any  # bench.workload.Target
    catalog: Any  # bench.workload.Catalog
    scram_iterations: int
    migration: dict[str, Any]
    machine: dict[str, Any]


def pooler_settings(cfg: S.BenchSettings) -> dict[str, str]:
    return {"min_pool_size": str(cfg.pooler_min_pool)} if cfg.pooler_min_pool else {}


def pgbouncer_for(
    cfg: S.BenchSettings, server: LocalPostgres, concurrency: int, **where: Any
) -> LocalPgBouncer:
    """The stand-in proxy (pool, borrow and idle timeouts of the dev config) in front of
    ``server``; ``where``: host and port for a reader pool."""
    model = cfg.proxy
    return LocalPgBouncer(
        server,
        pool_size=cfg.pool_size,
        pool_mode="transaction",
        max_client_conn=max(5000, concurrency * 2),
        borrow_timeout_s=model.borrow_timeout_s,
        idle_client_timeout_s=model.idle_client_timeout_s,
        extra_settings=pooler_settings(cfg),
        **where,
    )


def burst_shape(concurrency: int, cfg: S.BenchSettings) -> Shape:
    start = ramp_start_environments(concurrency, S.SEED_START_RPS, S.SEED_HOLD_RPS)
    return Shape(
        concurrency=concurrency,
        duration_s=cfg.duration_s,
        ramp_s=cfg.ramp_s,
        interval_s=concurrency / cfg.hold_rps,
        activation_s=tuple(activation_times(concurrency, start, cfg.ramp_s)),
    )


def steady_shape(concurrency: int, rate_rps: float, duration_s: float) -> Shape:
    """Every environment live from the start, their first requests spread over one interval;
    the warm-up (cold connects, caches) is left out of the percentiles by the caller."""
    n, interval = concurrency, concurrency / rate_rps
    return Shape(
        concurrency=n,
        duration_s=duration_s,
        ramp_s=0.0,
        interval_s=interval,
        activation_s=tuple(interval * i / n for i in range(n)),
    )


def fair_shape(cfg: S.BenchSettings) -> Shape:
    return steady_shape(cfg.fair_concurrency, cfg.hold_rps, cfg.fair_duration_s)


def scenario_run(
    name: str, shape: Shape, outcome: BurstOutcome, *, cap: int | None, pool_k: int | None = None
) -> ScenarioRun:
    """A burst's records and samples as one scenario's (or round's) run."""
    return ScenarioRun(
        name=name,
        concurrency=shape.concurrency,
        cap=cap,
        pool_k=pool_k,
        duration_s=shape.duration_s,
        ramp_s=shape.ramp_s,
        records=outcome.records,
        samples=outcome.samples,
        pools=outcome.pools,
        sched=outcome.sched,
        gc_pauses=outcome.gc_pauses,
        connections_opened=outcome.connections_opened,
        wall_s=outcome.wall_s,
        cpu=outcome.cpu,
    )


class Bench:
    def __init__(self, config: S.BenchSettings) -> None:
        self.config = config
        self.progress = Progress(config.progress)
        self.engine = BurstEngine(self.progress)

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        with signals_raise(), LocalPostgres(max_connections=self.config.max_connections) as pg:
            prepared = self._prepare(pg)
            passes: list[tuple[int, dict[str, Any]]] = []
            cfg = self.config
            # The fair comparison goes with the burst scenarios: read-split alone runs alone.
            if cfg.burst_scenarios:
                for level in cfg.concurrency_levels:
                    for index in range(cfg.repeat):
                        self.progress.line(self._pass_banner(level, index))
                        passes.append((level, self._one_pass(pg, prepared, level)))
            split = self._read_split(pg, prepared) if S.READ_SPLIT in cfg.scenarios else None
            return self._result(prepared, passes, started, split)

    def _read_split(self, pg: LocalPostgres, prepared: Prepared) -> dict[str, Any]:
        """Once per run, after the passes (its load does not follow --concurrency levels)."""
        from bench.read_split import ReadSplit  # noqa: PLC0415  # it imports this module

        return ReadSplit(self.config, self.engine, self.progress).run(pg, prepared)

    def _pass_banner(self, level: int, index: int) -> str:
        cfg = self.config
        return (
            f"== {level} environments, run {index + 1}/{cfg.repeat} (load average {loadavg()}) =="
        )

    def _prepare(self, pg: LocalPostgres) -> Prepared:
        from bench.workload import Target, migrate, seed_orders  # noqa: PLC0415

        cfg, model = self.config, self.config.proxy
        self.progress.line(
            f"PostgreSQL on 127.0.0.1:{pg.port} (max_connections={cfg.max_connections}); "
            f"migrating and seeding with the orders package"
        )
        pg.execute(f'CREATE DATABASE "{model.database_name}"')
        app_password = secrets.token_urlsafe(18)
        migration = migrate(
            host=pg.host,
            port=pg.port,
            admin_user=pg.superuser,
            admin_password=pg.superuser_password,
            app_password=app_password,
            ca_cert=str(pg.ca_cert_path),
            model=model,
        )
        # The auth cost model, the same for every scenario (the pooler looks the verifier up).
        iterations = apply_auth_model(pg, model.app_db_user, app_password, cfg.auth_model)
        self.progress.line(
            f"auth model {cfg.auth_model}: TLS verify-full + SCRAM-SHA-256 with a "
            f"{iterations}-iteration verifier for {model.app_db_user}"
        )
        direct = Target(
            host=pg.host,
            port=pg.port,
            dbname=model.database_name,
            user=model.app_db_user,
            password=app_password,
            ca_cert=str(pg.ca_cert_path),
            connect_timeout_s=model.connect_timeout_s,
        )
        catalog = seed_orders(direct, cfg.seed)
        drain(pg, model.app_db_user)
        return Prepared(
            direct=direct,
            catalog=catalog,
            scram_iterations=iterations,
            migration={"schema_version": migration.schema_version, "applied": migration.applied},
            machine=machine_info(pg),
        )

    def _one_pass(self, pg: LocalPostgres, prepared: Prepared, level: int) -> dict[str, Any]:
        started = time.monotonic()
        cfg = self.config
        shape = burst_shape(level, cfg)
        scenarios = []
        for name in cfg.burst_scenarios:
            summary = self._run_named(pg, prepared, name, shape).summary()
            scenarios.append(summary)
            self.progress.line(one_line(summary))
        fair = self._fair(pg, prepared) if cfg.fair_concurrency > 0 else None
        return {
            "concurrency": level,
            "wall_s": round(time.monotonic() - started, 1),
            "scenarios": scenarios,
            "fair_comparison": fair,
        }

    def _fair(self, pg: LocalPostgres, prepared: Prepared) -> dict[str, Any]:
        cfg = self.config
        shape = fair_shape(cfg)
        rounds = []
        # One PgBouncer for every pooled round, as one long-lived proxy serves the functions:
        # a fresh pooler per round measured its pool growing (a server login is ~15 ms and
        # PgBouncer opens one at a time), not the warm path.
        with self._bouncer(pg, shape.concurrency) as bouncer:
            for index, name in enumerate(cfg.fair_order):
                tag = f"fair {index + 1}/{len(cfg.fair_order)}"
                run = self._run_named(pg, prepared, name, shape, tag=tag, bouncer=bouncer)
                rounds.append(run)
                self._fair_line(name, index, run)
        drain(pg, cfg.proxy.app_db_user)
        return {
            "concurrency": cfg.fair_concurrency,
            "rate_rps": round(cfg.hold_rps, 1),
            "per_environment_interval_s": round(cfg.fair_interval_s, 4),
            "duration_s": cfg.fair_duration_s,
            "warmup_s": cfg.fair_warmup_s,
            **fair_comparison(
                rounds,
                warmup_s=cfg.fair_warmup_s,
                measured_s=cfg.fair_duration_s - cfg.fair_warmup_s,
                cap=cfg.pool_size,
            ),
        }

    def _bouncer(self, pg: LocalPostgres, concurrency: int) -> LocalPgBouncer:
        return pgbouncer_for(self.config, pg, concurrency)

    def _fair_line(self, name: str, index: int, run: ScenarioRun) -> None:
        warm, _, _ = run.measured(self.config.fair_warmup_s)
        self.progress.line(
            f"[fair {name}] round {index + 1}: {len(warm)} warm requests after the warm-up, "
            f"p99 {rounded(percentile(warm, 99))} ms, peak server connections "
            f"{max((c for _, c in run.samples), default=0)}"
        )

    def _run_named(
        self, pg: LocalPostgres, prepared: Prepared, name: str, shape: Shape, *,
        tag: str | None = None, bouncer: LocalPgBouncer | None = None,
    ) -> ScenarioRun:  # fmt: skip
        """One scenario: through PgBouncer when pooled (a fresh one unless given), then drain.

        A given PgBouncer (the fair comparison's) is long-lived like a deployed proxy: its
        warm server connections stay open between rounds, so no drain after its rounds.
        """
        if name != S.MODULE_POOLED:
            run = self._scenario(pg, prepared.direct, prepared, name, shape, bouncer=None, tag=tag)
        elif bouncer is not None:
            pooled = prepared.direct.via(bouncer.host, bouncer.port)
            return self._scenario(pg, pooled, prepared, name, shape, bouncer=bouncer, tag=tag)
        else:
            with self._bouncer(pg, shape.concurrency) as fresh:
                pooled = prepared.direct.via(fresh.host, fresh.port)
                run = self._scenario(pg, pooled, prepared, name, shape, bouncer=fresh, tag=tag)
        drain(pg, self.config.proxy.app_db_user)
        return run

    def _scenario(
        self, pg: LocalPostgres, target: Any, prepared: Prepared, name: str, shape: Shape, *,
        bouncer: LocalPgBouncer | None, tag: str | None,
    ) -> ScenarioRun:  # fmt: skip
        cfg = self.config
        mode = MODES[name]
        pool_k = cfg.pool_k if mode == "pool" else None
        work = BenchWork(
            mode=mode, target=target, catalog=prepared.catalog, seed=cfg.seed, pool_k=pool_k or 1
        )
        spec = BurstSpec(
            label=tag or name,
            work=work,
            shape=shape,
            workers=cfg.workers,
            role=cfg.proxy.app_db_user,
        )
        outcome = self.engine.run(pg, spec, bouncer=bouncer)
        return scenario_run(
            name, shape, outcome, cap=cfg.pool_size if bouncer else None, pool_k=pool_k
        )

    def _result(
        self,
        prepared: Prepared,
        passes: list[tuple[int, dict[str, Any]]],
        started: float,
        read_split: dict[str, Any] | None,
    ) -> dict[str, Any]:
        cfg = self.config
        first = passes[0][1] if passes else {"scenarios": [], "fair_comparison": None}
        result: dict[str, Any] = {
            "schema_version": 1,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "auth_model": cfg.auth_model,
            "settings": self._settings_json(prepared, cfg.concurrency_levels[0]),
            "machine": {**prepared.machine, "loadavg_at_end": loadavg()},
            "wall_s": round(time.monotonic() - started, 1),
            "scenarios": first["scenarios"],
            "fair_comparison": first["fair_comparison"],
        }
        if read_split is not None:
            result["read_split"] = read_split
        if passes and (cfg.repeat > 1 or len(cfg.concurrency_levels) > 1):
            result["repeats"] = [compact(p) for _, p in passes]
            first_level = passes[0][0]
            result["repeat_summary"] = repeat_summary(
                [p for level, p in passes if level == first_level]
            )
        if passes and len(cfg.concurrency_levels) > 1:
            result["sweep"] = sweep_summary([compact(p) for _, p in passes])
        return result

    def _settings_json(self, prepared: Prepared, concurrency: int) -> dict[str, Any]:
        cfg = self.config
        return {
            "auth": {
                "model": cfg.auth_model,
                "scram_iterations": prepared.scram_iterations,
                "tls": "verify-full",
            },
            "concurrency": concurrency,
            "concurrency_levels": list(cfg.concurrency_levels),
            "repeat": cfg.repeat,
            "duration_s": cfg.duration_s,
            "ramp_s": cfg.ramp_s,
            "start_environments": ramp_start_environments(
                concurrency, S.SEED_START_RPS, S.SEED_HOLD_RPS
            ),
            "hold_rate_rps": round(cfg.hold_rps, 1),
            "per_environment_interval_s": round(concurrency / cfg.hold_rps, 4),
            "postgres_max_connections": cfg.max_connections,
            "pool_size": cfg.pool_size,
            "pooler_min_pool": cfg.pooler_min_pool,
            "pool_k": cfg.pool_k,
            "workers": cfg.workers,
            "seed": cfg.seed,
            "proxy_model": cfg.proxy.__dict__,
            "migration": prepared.migration,
            "seeded_orders": len(prepared.catalog.order_ids),
        }


def one_line(summary: dict[str, Any]) -> str:
    errors = sum(summary["errors"].values())
    causes = summary.get("error_causes") or {}
    return (
        f"[{summary['name']}] done: {summary['requests']} requests, {summary['ok']} ok, "
        f"{errors} errors {causes or ''}, peak server connections "
        f"{summary['peak_server_connections']}, warm p99 {summary['p99_ms']} ms"
    )


__all__ = ["Bench", "ScenarioRun"]
