"""Orchestration: start the servers, run each scenario in worker processes, sample, collect."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
import queue
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from bench import settings as S
from bench.auth import apply_auth_model
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


@dataclass(frozen=True)
class Shape:
    """How a scenario's environments arrive and pace themselves."""

    concurrency: int
    duration_s: float
    ramp_s: float
    interval_s: float
    activation_s: tuple[float, ...]


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
    cpu: dict[str, float] | None = None

    def measured(self, warmup_s: float) -> tuple[list[float], dict[str, int], int]:
        """Warm successful latencies, errors by kind and successes, from ``warmup_s`` on."""
        errors = dict.fromkeys(ERROR_KINDS, 0)
        code_to_kind = {code: kind for kind, code in KIND_CODES.items()}
        warm: list[float] = []
        ok = 0
        for start, latency, code, is_cold, _env in self.records:
            if start < warmup_s:
                continue
            if code:
                errors[code_to_kind[code]] += 1
                continue
            ok += 1
            if not is_cold:
                warm.append(latency)
        return warm, errors, ok

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
            "cpu": self.cpu,
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


def fair_comparison(
    runs: list[ScenarioRun], *, warmup_s: float, measured_s: float, cap: int | None
) -> dict[str, Any]:
    """Direct vs pooled at the same offered load: warm percentiles after the warm-up, per path.

    ``runs`` are the rounds in the order they ran (ABBA); each path's percentiles pool the warm
    successes of its rounds, and each round's p99 is listed to show the spread.
    """
    paths: list[dict[str, Any]] = []
    for name in dict.fromkeys(run.name for run in runs):
        rounds = [run for run in runs if run.name == name]
        warm: list[float] = []
        errors = dict.fromkeys(ERROR_KINDS, 0)
        ok = requests = 0
        round_p99: list[float | None] = []
        for run in rounds:
            run_warm, run_errors, run_ok = run.measured(warmup_s)
            warm += run_warm
            ok += run_ok
            requests += run_ok + sum(run_errors.values())
            for kind, count in run_errors.items():
                errors[kind] += count
            round_p99.append(_round(percentile(run_warm, 99)))
        paths.append(
            {
                "name": name,
                "label": S.SCENARIO_LABELS[name],
                "concurrency": rounds[0].concurrency,
                "rounds": len(rounds),
                "requests": requests,
                "ok": ok,
                "errors": errors,
                "warm_ok": len(warm),
                "p50_ms": _round(percentile(warm, 50)),
                "p95_ms": _round(percentile(warm, 95)),
                "p99_ms": _round(percentile(warm, 99)),
                "round_p99_ms": round_p99,
                "throughput_rps": round(ok / max(measured_s * len(rounds), 1e-9), 1),
                "peak_server_connections": max(
                    (count for run in rounds for _, count in run.samples), default=0
                ),
                "server_connection_cap": cap if name == S.MODULE_POOLED else None,
                "cpu": [run.cpu for run in rounds],
            }
        )
    by_name = {path["name"]: path for path in paths}
    direct, pooled = by_name.get(S.MODULE_DIRECT), by_name.get(S.MODULE_POOLED)
    ratio = None
    if direct and pooled and direct["p99_ms"] and pooled["p99_ms"]:
        ratio = round(pooled["p99_ms"] / direct["p99_ms"], 2)
    return {"order": [run.name for run in runs], "paths": paths, "p99_ratio": ratio}


# CPU accounting from /proc: who used the machine's CPUs during a scenario.
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    # Fields after the parenthesised command name: state, ppid, ..., utime is the 12th.
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def process_cpu_s(pid: int | None, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a process (and of its children it has reaped)."""
    if pid is None:
        return 0.0
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _HZ


def postgres_cpu_s(postmaster: int | None) -> float:
    """The postmaster, its reaped backends and its live backends (children), in CPU seconds."""
    if postmaster is None:
        return 0.0
    total = process_cpu_s(postmaster, reaped_children=True)
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = _stat_fields(int(entry))
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / _HZ
    return total


def machine_busy_s() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    steal = values[7] if len(values) > 7 else 0
    return (user + nice + system + irq + softirq) / _HZ, steal / _HZ


class CpuMeter:
    """CPU used during a scenario by the bench's clients, PostgreSQL, PgBouncer and the rest.

    ``other`` is the machine's busy time minus everything the bench accounts for: other jobs on
    the machine. Reported in cores (CPU seconds per wall second), averaged over the scenario.
    """

    def __init__(self, postmaster: int | None, bouncer: int | None) -> None:
        self.postmaster, self.bouncer = postmaster, bouncer
        self._start = self._read()

    def _read(self) -> tuple[float, ...]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        busy, steal = machine_busy_s()
        return (
            time.monotonic(),
            busy,
            steal,
            own.ru_utime + own.ru_stime,
            postgres_cpu_s(self.postmaster),
            process_cpu_s(self.bouncer),
        )

    def stop(self, workers_cpu_s: float, pgbouncer_peak: float | None) -> dict[str, float]:
        end = self._read()
        wall, busy, steal, parent, postgres, bouncer = (
            b - a for a, b in zip(self._start, end, strict=True)
        )
        wall = max(wall, 1e-9)
        clients = workers_cpu_s + parent
        other = max(0.0, busy - clients - postgres - bouncer)
        cpu = {
            "window_s": round(wall, 1),
            "cpu_count": os.cpu_count() or 0,
            "machine_busy_cores": round(busy / wall, 2),
            "bench_clients_cores": round(clients / wall, 2),
            "postgres_cores": round(postgres / wall, 2),
            "pgbouncer_cores": round(bouncer / wall, 2),
            "other_processes_cores": round(other / wall, 2),
            "steal_cores": round(steal / wall, 2),
        }
        if pgbouncer_peak is not None:
            cpu["pgbouncer_peak_1s_cores"] = round(pgbouncer_peak, 2)
        return cpu


class Sampler:
    """Counts the bench role's server connections in pg_stat_activity every ~25 ms.

    With a PgBouncer pid it also keeps the highest CPU use of PgBouncer's single thread over
    ~1 s windows (is the stand-in pegged?).
    """

    def __init__(
        self, pg: LocalPostgres, role: str, t0: float, bouncer_pid: int | None = None
    ) -> None:
        self.samples: list[tuple[float, int]] = []
        self.pgbouncer_peak: float | None = None if bouncer_pid is None else 0.0
        self._pg, self._role, self._t0 = pg, role, t0
        self._bouncer = bouncer_pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def _run(self) -> None:
        last_t, last_cpu = time.monotonic(), process_cpu_s(self._bouncer)
        with self._pg.connect() as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self._role,)
                ).fetchone()
                now = time.monotonic()
                self.samples.append((now - self._t0, int(row[0]) if row else 0))
                if self._bouncer is not None and now - last_t >= 1.0:
                    cpu = process_cpu_s(self._bouncer)
                    use = (cpu - last_cpu) / (now - last_t)
                    self.pgbouncer_peak = max(self.pgbouncer_peak or 0.0, use)
                    last_t, last_cpu = now, cpu
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
        # 1, 5 and 15 min load averages before the scenarios: other jobs on the machine
        "loadavg_at_start": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


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
        # The auth cost model, the same for every scenario (the pooler looks the verifier up).
        scram_iterations = apply_auth_model(pg, model.app_db_user, app_password, cfg.auth_model)
        self.progress.line(
            f"auth model {cfg.auth_model}: TLS verify-full + SCRAM-SHA-256 with a "
            f"{scram_iterations}-iteration verifier for {model.app_db_user}"
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
        burst = Shape(
            concurrency=cfg.concurrency,
            duration_s=cfg.duration_s,
            ramp_s=cfg.ramp_s,
            interval_s=cfg.interval_s,
            activation_s=tuple(
                activation_times(
                    cfg.concurrency,
                    ramp_start_environments(cfg.concurrency, S.SEED_START_RPS, S.SEED_HOLD_RPS),
                    cfg.ramp_s,
                )
            ),
        )
        results: list[dict[str, Any]] = []
        for name in cfg.scenarios:
            run = self._run_named(pg, name, direct, catalog, burst)
            summary = run.summary()
            results.append(summary)
            self.progress.line(_one_line(summary))
        fair = None
        if cfg.fair_concurrency > 0:
            n, interval = cfg.fair_concurrency, cfg.fair_interval_s
            # Every environment live from the start, their first requests spread over one
            # interval; the warm-up (cold connects, caches) is left out of the percentiles.
            shape = Shape(
                concurrency=n,
                duration_s=cfg.fair_duration_s,
                ramp_s=0.0,
                interval_s=interval,
                activation_s=tuple(interval * i / n for i in range(n)),
            )
            rounds = []
            for index, name in enumerate(cfg.fair_order):
                run = self._run_named(
                    pg, name, direct, catalog, shape, tag=f"fair {index + 1}/{len(cfg.fair_order)}"
                )
                rounds.append(run)
                warm, _, _ = run.measured(cfg.fair_warmup_s)
                self.progress.line(
                    f"[fair {name}] round {index + 1}: {len(warm)} warm requests after the "
                    f"warm-up, p99 {_round(percentile(warm, 99))} ms"
                )
            fair = {
                "concurrency": n,
                "rate_rps": round(cfg.hold_rps, 1),
                "per_environment_interval_s": round(interval, 4),
                "duration_s": cfg.fair_duration_s,
                "warmup_s": cfg.fair_warmup_s,
                **fair_comparison(
                    rounds,
                    warmup_s=cfg.fair_warmup_s,
                    measured_s=cfg.fair_duration_s - cfg.fair_warmup_s,
                    cap=cfg.pool_size,
                ),
            }
        return {
            "schema_version": 1,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "auth_model": cfg.auth_model,
            "settings": {
                "auth": {
                    "model": cfg.auth_model,
                    "scram_iterations": scram_iterations,
                    "tls": "verify-full",
                },
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
            "machine": {**machine, "loadavg_at_end": _loadavg()},
            "wall_s": round(time.monotonic() - started, 1),
            "scenarios": results,
            "fair_comparison": fair,
        }

    def _run_named(
        self,
        pg: LocalPostgres,
        name: str,
        direct: Any,
        catalog: Any,
        shape: Shape,
        *,
        tag: str | None = None,
    ) -> ScenarioRun:
        """One scenario: through a fresh PgBouncer when pooled, then drain the server."""
        cfg, model = self.config, self.config.proxy
        if name == S.MODULE_POOLED:
            with LocalPgBouncer(
                pg,
                pool_size=cfg.pool_size,
                pool_mode="transaction",
                max_client_conn=max(5000, shape.concurrency * 2),
                borrow_timeout_s=model.borrow_timeout_s,
                idle_client_timeout_s=model.idle_client_timeout_s,
            ) as bouncer:
                pooled = type(direct)(**{**direct.__dict__, "port": bouncer.port})
                run = self._scenario(
                    pg, name, pooled, catalog, shape, cap=cfg.pool_size, bouncer_pid=bouncer.pid,
                    tag=tag,
                )  # fmt: skip
        else:
            run = self._scenario(pg, name, direct, catalog, shape, cap=None, tag=tag)
        _drain(pg, model.app_db_user)
        return run

    def _scenario(
        self,
        pg: LocalPostgres,
        name: str,
        target: Any,
        catalog: Any,
        shape: Shape,
        *,
        cap: int | None,
        bouncer_pid: int | None = None,
        tag: str | None = None,
    ) -> ScenarioRun:
        cfg = self.config
        mode = MODES[name]
        pool_k = cfg.pool_k if mode == "pool" else None
        run = ScenarioRun(
            name=name,
            concurrency=shape.concurrency,
            cap=cap,
            pool_k=pool_k,
            duration_s=shape.duration_s,
            ramp_s=shape.ramp_s,
        )
        workers = max(1, min(cfg.workers, shape.concurrency))
        counters = self._ctx.Array("q", workers * SLOT_WIDTH, lock=False)
        t0_value = self._ctx.Value("d", 0.0, lock=False)
        go, stop = self._ctx.Event(), self._ctx.Event()
        out = self._ctx.Queue()
        procs = []
        for index in range(workers):
            ids = tuple(range(index, shape.concurrency, workers))
            job = WorkerJob(
                index=index,
                mode=mode,
                target=target,
                catalog=catalog,
                env_ids=ids,
                activation_s=tuple(shape.activation_s[i] for i in ids),
                interval_s=shape.interval_s,
                duration_s=shape.duration_s,
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
            meter = CpuMeter(pg.pid, bouncer_pid)
            with Sampler(pg, cfg.proxy.app_db_user, t0, bouncer_pid) as sampler:
                go.set()
                results = self._collect(
                    tag or name,
                    out,
                    workers=workers,
                    counters=counters,
                    t0=t0,
                    sampler=sampler,
                    shape=shape,
                )
            run.samples = sampler.samples
            workers_cpu = 0.0
            for payload in results:
                run.records.extend(payload["records"])
                run.connections_opened += payload["connections_opened"]
                workers_cpu += payload.get("cpu_user_s", 0.0) + payload.get("cpu_sys_s", 0.0)
            run.cpu = meter.stop(workers_cpu, sampler.pgbouncer_peak)
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
        shape: Shape,
    ) -> list[dict[str, Any]]:
        deadline = t0 + shape.duration_s + GRACE_S + 10
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
                f"[{name}] t={elapsed:5.1f}/{shape.duration_s:g}s envs={totals[SLOT_LIVE]:>4}/"
                f"{shape.concurrency} requests={totals[SLOT_REQUESTS]:>6} ok={totals[SLOT_OK]:>6} "
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
