"""Run one burst: spawn the worker processes, start them together, sample, collect their records."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from bench.console import Progress
from bench.cpu import CpuMeter
from bench.results import GRACE_S
from bench.sampler import PoolSample, Sampler
from bench.worker import (
    SLOT_ERRORS,
    SLOT_LIVE,
    SLOT_OK,
    SLOT_REQUESTS,
    SLOT_WIDTH,
    Record,
    WorkerIpc,
    WorkerJob,
    WorkerTask,
)
from localpg import LocalPgBouncer, LocalPostgres, LocalReplica

READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Shape:
    """How a burst's environments arrive and pace themselves."""

    concurrency: int
    duration_s: float
    ramp_s: float
    interval_s: float
    activation_s: tuple[float, ...]


@dataclass(frozen=True)
class ReaderSide:
    """A replica and the read pool in front of it: sampled and CPU-accounted like the writer."""

    replica: LocalReplica
    bouncer: LocalPgBouncer | None = None


@dataclass(frozen=True)
class BurstSpec:
    """What each worker process runs (``work``), in what shape, in how many processes."""

    label: str
    work: WorkerTask  # picklable: every worker process gets a copy
    shape: Shape
    workers: int
    role: str  # the app role whose server connections the sampler counts


@dataclass
class BurstOutcome:
    records: list[Record] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)
    # The replica's app-role server connections (a reader pool's), when there is a replica.
    reader_samples: list[tuple[float, int]] = field(default_factory=list)
    pools: list[PoolSample] = field(default_factory=list)
    sched: list[tuple[float, float, float]] = field(default_factory=list)
    gc_pauses: list[tuple[float, float]] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)
    connections_opened: int = 0
    cpu: dict[str, float] | None = None
    wall_s: float = 0.0
    t0: float = 0.0


def _jobs(spec: BurstSpec) -> list[WorkerJob]:
    shape = spec.shape
    workers = max(1, min(spec.workers, shape.concurrency))
    jobs = []
    for index in range(workers):
        ids = tuple(range(index, shape.concurrency, workers))
        jobs.append(
            WorkerJob(
                index=index,
                env_ids=ids,
                activation_s=tuple(shape.activation_s[i] for i in ids),
                interval_s=shape.interval_s,
                duration_s=shape.duration_s,
            )
        )
    return jobs


class BurstEngine:
    """Runs bursts in spawned worker processes (one engine per run; spawn: no forked state)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._ctx: SpawnContext = mp.get_context("spawn")

    def run(
        self,
        pg: LocalPostgres,
        spec: BurstSpec,
        *,
        bouncer: LocalPgBouncer | None = None,
        on_start: Callable[[float], None] | None = None,
        reader: ReaderSide | None = None,
    ) -> BurstOutcome:
        """One burst; ``on_start(t0)`` is called when the burst's clock starts (fault timers)."""
        jobs = _jobs(spec)
        ctx = self._ctx
        counters = ctx.Array("q", len(jobs) * SLOT_WIDTH, lock=False)
        t0_value = ctx.Value("d", 0.0, lock=False)
        ipc = WorkerIpc(
            counters=counters, t0=t0_value, go=ctx.Event(), stop=ctx.Event(), out=ctx.Queue()
        )
        procs = [
            ctx.Process(target=spec.work.run, args=(job, ipc), name=f"bench-worker-{job.index}")
            for job in jobs
        ]
        for proc in procs:
            proc.start()
        outcome = BurstOutcome()
        wall_start = time.monotonic()
        try:
            self._wait_ready(ipc, len(jobs))
            outcome.t0 = t0_value.value = time.monotonic() + 0.3
            self._drive(
                pg,
                spec=spec,
                ipc=ipc,
                outcome=outcome,
                bouncer=bouncer,
                on_start=on_start,
                workers=len(jobs),
                reader=reader,
            )
        finally:
            _stop_workers(ipc, procs)
            outcome.wall_s = time.monotonic() - wall_start
        return outcome

    def _drive(
        self,
        pg: LocalPostgres,
        *,
        spec: BurstSpec,
        ipc: WorkerIpc,
        outcome: BurstOutcome,
        bouncer: LocalPgBouncer | None,
        on_start: Callable[[float], None] | None,
        workers: int,
        reader: ReaderSide | None,
    ) -> None:
        meter = CpuMeter(pg.pid, bouncer.pid if bouncer else None, reader=_reader_pids(reader))
        with (
            Sampler(pg, spec.role, outcome.t0, bouncer) as sampler,
            contextlib.ExitStack() as stack,
        ):
            if reader is not None:
                replica = Sampler(reader.replica, spec.role, outcome.t0)
                outcome.reader_samples = stack.enter_context(replica).samples
            ipc.go.set()
            if on_start is not None:
                on_start(outcome.t0)
            results = self._collect(spec, ipc, workers, outcome.t0, sampler)
        outcome.samples, outcome.pools = sampler.samples, sampler.pools
        outcome.sched = sampler.pgbouncer_sched
        workers_cpu = 0.0
        for payload in results:
            outcome.records.extend(payload["records"])
            outcome.extras.extend(payload.get("extras", []))
            outcome.gc_pauses.extend(payload.get("gc_pauses", []))
            outcome.connections_opened += payload["connections_opened"]
            workers_cpu += payload.get("cpu_user_s", 0.0) + payload.get("cpu_sys_s", 0.0)
        outcome.cpu = meter.stop(workers_cpu, sampler.pgbouncer_peak)
        outcome.records.sort()

    def _wait_ready(self, ipc: WorkerIpc, workers: int) -> None:
        ready = 0
        deadline = time.monotonic() + READY_TIMEOUT_S
        while ready < workers:
            try:
                kind, _, _ = ipc.out.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"workers not ready after {READY_TIMEOUT_S:g} s") from None
            ready += kind == "ready"

    def _collect(
        self, spec: BurstSpec, ipc: WorkerIpc, workers: int, t0: float, sampler: Sampler
    ) -> list[dict[str, Any]]:
        shape = spec.shape
        deadline = t0 + shape.duration_s + GRACE_S + 10
        results: list[dict[str, Any]] = []
        while len(results) < workers and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                kind, _, payload = ipc.out.get(timeout=0.2)
                if kind == "result":
                    results.append(payload)
                    continue
            totals = [
                sum(ipc.counters[w * SLOT_WIDTH + s] for w in range(workers)) for s in range(4)
            ]
            conns = sampler.samples[-1][1] if sampler.samples else 0
            self.progress.update(
                f"[{spec.label}] t={time.monotonic() - t0:5.1f}/{shape.duration_s:g}s "
                f"envs={totals[SLOT_LIVE]:>4}/{shape.concurrency} "
                f"requests={totals[SLOT_REQUESTS]:>6} ok={totals[SLOT_OK]:>6} "
                f"errors={totals[SLOT_ERRORS]:>6} server_conns={conns:>3}"
            )
        if len(results) < workers:
            self.progress.line(f"[{spec.label}] {workers - len(results)} worker(s) did not report")
        return results


def _reader_pids(reader: ReaderSide | None) -> tuple[int | None, int | None] | None:
    if reader is None:
        return None
    return reader.replica.pid, reader.bouncer.pid if reader.bouncer else None


def _stop_workers(ipc: WorkerIpc, procs: list[SpawnProcess]) -> None:
    ipc.stop.set()
    ipc.go.set()
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
