"""Orchestration: start the servers, run each scenario in worker processes, sample, collect."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psycopg

from bench import settings as S
from bench.stats import (
    ERROR_KINDS,
    activation_times,
    bucket_counts,
    percentile,
    ramp_start_environments,
)
from bench.worker import (
    KIND_CODES,
    SLOT_ERRORS,
    SLOT_LIVE,
    SLOT_OK,
    SLOT_REQUESTS,
    SLOT_WIDTH,
    Record,
    WorkerIpc,
    WorkerJob,
    run_worker,
)
from localpg import LocalPgBouncer, LocalPostgres

SAMPLE_INTERVAL_S = 0.025
TIMELINE_BUCKET_S = 0.5
READY_TIMEOUT_S = 120.0
# After the last request is issued: connect (2 s) + borrow (3 s) + statement (5 s), twice with the
# retry, fits in this; anything still running after it is abandoned and its process terminated.
GRACE_S = 30.0
DRAIN_TIMEOUT_S = 15.0

MODES = {
    S.PER_INVOCATION: "per-invocation",
    S.MODULE_DIRECT: "module",
    S.MODULE_POOLED: "module",
    S.POOL_K_DIRECT: "pool",
}


class Interrupted(Exception):
    """SIGINT/SIGTERM during a run: stop the workers and the servers, report nothing."""


@dataclass
class ScenarioRun:
    name: str
    concurrency: int
    cap: int | None
    pool_k: int | None
    duration_s: float
    ramp_s: float
    records: list[Record] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)
    connections_opened: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The scenario's JSON entry (schema in docs/bench.md)."""
        errors = dict.fromkeys(ERROR_KINDS, 0)
        code_to_kind = {code: kind for kind, code in KIND_CODES.items()}
        warm: list[float] = []
        cold: list[float] = []
        ok = 0
        ok_in_hold = 0
        envs_served: set[int] = set()
        for start, latency, code, is_cold, env_id in self.records:
            if code:
                errors[code_to_kind[code]] += 1
                continue
            ok += 1
            envs_served.add(env_id)
            if start >= self.ramp_s:
                ok_in_hold += 1
            (cold if is_cold else warm).append(latency)
        hold_s = max(self.duration_s - self.ramp_s, 1e-9)
        peak = max((count for _, count in self.samples), default=0)
        result: dict[str, Any] = {
            "name": self.name,
            "label": S.SCENARIO_LABELS[self.name],
            "concurrency": self.concurrency,
            "requests": len(self.records),
            "ok": ok,
            "errors": errors,
            "peak_server_connections": peak,
            "server_connection_cap": self.cap,
            "p50_ms": _round(percentile(warm, 50)),
            "p95_ms": _round(percentile(warm, 95)),
            "p99_ms": _round(percentile(warm, 99)),
            "cold_p50_ms": _round(percentile(cold, 50)),
            "throughput_rps": round(ok_in_hold / hold_s, 1),
            "warm_ok": len(warm),
            "cold_ok": len(cold),
            "environments_served": len(envs_served),
            "connections_opened": self.connections_opened,
            "pool_k": self.pool_k,
            "wall_s": round(self.wall_s, 1),
            "timeline": self.timeline(),
        }
        return result

    def timeline(self) -> dict[str, Any]:
        end = self.duration_s + GRACE_S
        last = max([r[0] for r in self.records] + [s[0] for s in self.samples] + [0.0])
        end = min(end, last + TIMELINE_BUCKET_S)
        buckets = max(1, int(end / TIMELINE_BUCKET_S) + 1)
        conns = [0] * buckets
        for t, count in self.samples:
            if t >= 0:
                index = min(buckets - 1, int(t / TIMELINE_BUCKET_S))
                conns[index] = max(conns[index], count)
        span = buckets * TIMELINE_BUCKET_S
        per_s = 1 / TIMELINE_BUCKET_S
        ok_times = [r[0] for r in self.records if r[2] == 0]
        err_times = [r[0] for r in self.records if r[2] != 0]
        return {
            "bucket_s": TIMELINE_BUCKET_S,
            "server_connections_max": conns,
            "ok_per_s": [n * per_s for n in bucket_counts(ok_times, TIMELINE_BUCKET_S, span)],
            "errors_per_s": [n * per_s for n in bucket_counts(err_times, TIMELINE_BUCKET_S, span)],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Sampler:
    """Counts the bench role's server connections in pg_stat_activity every ~25 ms."""

    def __init__(self, pg: LocalPostgres, role: str, t0: float) -> None:
        self.samples: list[tuple[float, int]] = []
        self._pg, self._role, self._t0 = pg, role, t0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def _run(self) -> None:
        with self._pg.connect() as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self._role,)
                ).fetchone()
                self.samples.append((time.monotonic() - self._t0, int(row[0]) if row else 0))
                self._stop.wait(SAMPLE_INTERVAL_S)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Progress:
    """One updating line on a TTY, a line every few seconds otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stdout.isatty()
        self._last = 0.0

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + text)
            sys.stdout.flush()
        elif now - self._last >= 5.0:
            print(text, flush=True)
            self._last = now

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stdout.write("\r\x1b[2K")
        print(text, flush=True)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C so the same cleanup path runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except KeyboardInterrupt as exc:
        raise Interrupted("SIGINT") from exc
    finally:
        signal.signal(signal.SIGTERM, previous)


def machine_info(pg: LocalPostgres) -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):  # noqa: SIM115
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError):
        for line in open("/proc/meminfo"):  # noqa: SIM115
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    pg_version = pg.execute("SHOW server_version")[0][0]
    try:
        bouncer = LocalPgBouncer(pg).binary
        out = subprocess.run(
            [str(bouncer), "--version"], capture_output=True, text=True, check=False
        )
        bouncer_version = out.stdout.splitlines()[0].strip() if out.stdout else "unknown"
    except Exception as exc:  # informational only
        bouncer_version = f"unknown ({exc})"
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": f"PostgreSQL {pg_version}",
        "pgbouncer": bouncer_version,
        "psycopg": psycopg.__version__,
    }


def _drain(pg: LocalPostgres, role: str) -> int:
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


class Bench:
    def __init__(self, config: S.BenchSettings) -> None:
        self.config = config
        self.progress = Progress(config.progress)
        self._ctx = mp.get_context("spawn")

    def run(self) -> dict[str, Any]:
        cfg = self.config
        started = time.monotonic()
        with _signals_raise(), LocalPostgres(max_connections=cfg.max_connections) as pg:
            return self._run_all(pg, started)

    def _run_all(self, pg: LocalPostgres, started: float) -> dict[str, Any]:
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
        _drain(pg, model.app_db_user)
        machine = machine_info(pg)
        results: list[dict[str, Any]] = []
        for name in cfg.scenarios:
            if name == S.MODULE_POOLED:
                with LocalPgBouncer(
                    pg,
                    pool_size=cfg.pool_size,
                    pool_mode="transaction",
                    max_client_conn=max(5000, cfg.concurrency * 2),
                    borrow_timeout_s=model.borrow_timeout_s,
                    idle_client_timeout_s=model.idle_client_timeout_s,
                ) as bouncer:
                    pooled = Target(**{**direct.__dict__, "port": bouncer.port})
                    run = self._scenario(pg, name, pooled, catalog, cap=cfg.pool_size)
            else:
                run = self._scenario(pg, name, direct, catalog, cap=None)
            _drain(pg, model.app_db_user)
            summary = run.summary()
            results.append(summary)
            self.progress.line(_one_line(summary))
        return {
            "schema_version": 1,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {
                "concurrency": cfg.concurrency,
                "duration_s": cfg.duration_s,
                "ramp_s": cfg.ramp_s,
                "start_environments": ramp_start_environments(
                    cfg.concurrency, S.SEED_START_RPS, S.SEED_HOLD_RPS
                ),
                "hold_rate_rps": round(cfg.hold_rps, 1),
                "per_environment_interval_s": round(cfg.interval_s, 4),
                "postgres_max_connections": cfg.max_connections,
                "pool_size": cfg.pool_size,
                "pool_k": cfg.pool_k,
                "workers": cfg.workers,
                "seed": cfg.seed,
                "proxy_model": model.__dict__,
                "migration": {
                    "schema_version": migration.schema_version,
                    "applied": migration.applied,
                },
                "seeded_orders": len(catalog.order_ids),
            },
            "machine": machine,
            "wall_s": round(time.monotonic() - started, 1),
            "scenarios": results,
        }

    def _scenario(
        self, pg: LocalPostgres, name: str, target: Any, catalog: Any, *, cap: int | None
    ) -> ScenarioRun:
        cfg = self.config
        mode = MODES[name]
        pool_k = cfg.pool_k if mode == "pool" else None
        run = ScenarioRun(
            name=name,
            concurrency=cfg.concurrency,
            cap=cap,
            pool_k=pool_k,
            duration_s=cfg.duration_s,
            ramp_s=cfg.ramp_s,
        )
        start_envs = ramp_start_environments(cfg.concurrency, S.SEED_START_RPS, S.SEED_HOLD_RPS)
        times = activation_times(cfg.concurrency, start_envs, cfg.ramp_s)
        workers = max(1, min(cfg.workers, cfg.concurrency))
        counters = self._ctx.Array("q", workers * SLOT_WIDTH, lock=False)
        t0_value = self._ctx.Value("d", 0.0, lock=False)
        go, stop = self._ctx.Event(), self._ctx.Event()
        out = self._ctx.Queue()
        procs = []
        for index in range(workers):
            ids = tuple(range(index, cfg.concurrency, workers))
            job = WorkerJob(
                index=index,
                mode=mode,
                target=target,
                catalog=catalog,
                env_ids=ids,
                activation_s=tuple(times[i] for i in ids),
                interval_s=cfg.interval_s,
                duration_s=cfg.duration_s,
                seed=cfg.seed,
                pool_k=pool_k or 1,
            )
            proc = self._ctx.Process(
                target=run_worker,
                args=(job, WorkerIpc(counters=counters, t0=t0_value, go=go, stop=stop, out=out)),
                name=f"bench-worker-{index}",
            )
            proc.start()
            procs.append(proc)
        wall_start = time.monotonic()
        try:
            self._wait_ready(out, workers)
            t0 = time.monotonic() + 0.3
            t0_value.value = t0
            with Sampler(pg, cfg.proxy.app_db_user, t0) as sampler:
                go.set()
                results = self._collect(
                    name, out, workers=workers, counters=counters, t0=t0, sampler=sampler
                )
            run.samples = sampler.samples
            for payload in results:
                run.records.extend(payload["records"])
                run.connections_opened += payload["connections_opened"]
            run.records.sort()
        finally:
            stop.set()
            go.set()
            for proc in procs:
                proc.join(5)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5)
            run.wall_s = time.monotonic() - wall_start
        return run

    def _wait_ready(self, out: Any, workers: int) -> None:
        ready = 0
        deadline = time.monotonic() + READY_TIMEOUT_S
        while ready < workers:
            try:
                kind, _, _ = out.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"workers not ready after {READY_TIMEOUT_S:g} s") from None
            ready += kind == "ready"

    def _collect(
        self,
        name: str,
        out: Any,
        *,
        workers: int,
        counters: Any,
        t0: float,
        sampler: Sampler,
    ) -> list[dict[str, Any]]:
        cfg = self.config
        deadline = t0 + cfg.duration_s + GRACE_S + 10
        results: list[dict[str, Any]] = []
        while len(results) < workers and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                kind, _, payload = out.get(timeout=0.2)
                if kind == "result":
                    results.append(payload)
                    continue
            totals = [sum(counters[w * SLOT_WIDTH + s] for w in range(workers)) for s in range(4)]
            elapsed = time.monotonic() - t0
            conns = sampler.samples[-1][1] if sampler.samples else 0
            self.progress.update(
                f"[{name}] t={elapsed:5.1f}/{cfg.duration_s:g}s envs={totals[SLOT_LIVE]:>4}/"
                f"{cfg.concurrency} requests={totals[SLOT_REQUESTS]:>6} ok={totals[SLOT_OK]:>6} "
                f"errors={totals[SLOT_ERRORS]:>6} server_conns={conns:>3}"
            )
        if len(results) < workers:
            self.progress.line(f"[{name}] {workers - len(results)} worker(s) did not report")
        return results


def _one_line(summary: dict[str, Any]) -> str:
    errors = sum(summary["errors"].values())
    return (
        f"[{summary['name']}] done: {summary['requests']} requests, {summary['ok']} ok, "
        f"{errors} errors {summary['errors']}, peak server connections "
        f"{summary['peak_server_connections']}, warm p99 {summary['p99_ms']} ms"
    )


__all__ = ["Bench", "Interrupted", "ScenarioRun"]
