"""A worker process: simulated environments as paced threads (serve); the bench's (BenchWork)."""

from __future__ import annotations

import gc
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bench.stats import CAUSE_NAMES, classify_cause, next_request_time

OK = "ok"
# Record codes: 0 is a success, then one code per failure cause (bench.stats.CAUSE_NAMES).
CODE_CAUSES: list[str] = [OK, *CAUSE_NAMES]
CAUSE_CODES: dict[str, int] = {name: code for code, name in enumerate(CODE_CAUSES)}
# Counter slots per worker in the shared progress array.
SLOT_REQUESTS, SLOT_OK, SLOT_ERRORS, SLOT_LIVE, SLOT_WIDTH = 0, 1, 2, 3, 4
THREAD_STACK_BYTES = 512 * 1024


class SimulatedEnvironment(Protocol):
    env_id: int

    def invoke(self) -> str: ...

    def close(self) -> None: ...

    def connections_opened(self) -> int: ...


Env = TypeVar("Env", bound=SimulatedEnvironment)


@dataclass(frozen=True)
class WorkerJob:
    """One worker's share of a burst: its environments, when each starts, the pacing."""

    index: int
    env_ids: tuple[int, ...]
    activation_s: tuple[float, ...]
    interval_s: float
    duration_s: float


# One record per request: (start offset s, latency ms, cause code, cold 0/1, env id).
Record = tuple[float, float, int, int, int]


@dataclass(frozen=True)
class WorkerIpc:
    """What a worker shares with the parent (multiprocessing objects, pickled at spawn)."""

    counters: Any  # Array("q"): SLOT_WIDTH slots per worker
    t0: Any  # Value("d"): the burst's start on the shared monotonic clock
    go: Any  # Event: start the burst
    stop: Any  # Event: stop now (Ctrl-C, SIGTERM, error in the parent)
    out: Any  # Queue: ("ready" | "result", worker index, payload)


class WorkerTask(Protocol):
    """What a spawned worker process runs (pickled with it): builds environments, calls serve."""

    def run(self, job: WorkerJob, ipc: WorkerIpc) -> None: ...


@dataclass(frozen=True)
class BenchWork:
    """The burst lab's environments (bench.workload.Environment) in one connection mode."""

    mode: str
    target: Any  # bench.workload.Target (kept Any so this module imports without orders)
    catalog: Any  # bench.workload.Catalog
    seed: int
    pool_k: int = 1

    def run(self, job: WorkerJob, ipc: WorkerIpc) -> None:
        serve(job, ipc, self._environments)

    def _environments(self, env_ids: Sequence[int]) -> list[SimulatedEnvironment]:
        from bench.workload import Environment  # noqa: PLC0415  # heavy import

        return [
            Environment(
                env_id=env_id,
                mode=self.mode,
                target=self.target,
                catalog=self.catalog,
                seed=self.seed,
                pool_k=self.pool_k,
            )
            for env_id in env_ids
        ]


@dataclass(frozen=True)
class ReadSplitWork:
    """The read-split scenario's environments (bench.workload.ReadSplitEnvironment): reads
    through orders.reads (the reader when ``target.read_host`` is set), creates on the writer;
    each reports who answered its reads."""

    target: Any  # bench.workload.Target
    catalog: Any  # bench.workload.Catalog
    seed: int

    def run(self, job: WorkerJob, ipc: WorkerIpc) -> None:
        serve(job, ipc, self._environments, report=lambda env: env.report())

    def _environments(self, env_ids: Sequence[int]) -> list[Any]:
        from bench.workload import ReadSplitEnvironment  # noqa: PLC0415  # heavy import

        return [
            ReadSplitEnvironment(
                env_id=env_id, target=self.target, catalog=self.catalog, seed=self.seed
            )
            for env_id in env_ids
        ]


def serve(
    job: WorkerJob,
    ipc: WorkerIpc,
    build: Callable[[Sequence[int]], list[Env]],
    report: Callable[[Env], Any] | None = None,
) -> None:
    """A worker process's life: build the environments, wait for go, run, send the records.

    ``report(env)``, if given, is what each environment kept besides its records (the
    payload's ``extras``, in environment order).
    """
    # Ctrl-C reaches the whole foreground process group: the parent decides, workers follow.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bench.workload import quiet_observability  # noqa: PLC0415  # heavy import

    quiet_observability()
    threading.stack_size(THREAD_STACK_BYTES)
    envs = build(job.env_ids)
    ipc.out.put(("ready", job.index, None))
    if not ipc.go.wait(120):
        ipc.out.put(("result", job.index, {"records": [], "connections_opened": 0}))
        return
    before = resource.getrusage(resource.RUSAGE_SELF)
    burst = _Burst(job, ipc, float(ipc.t0.value))
    pauses = GcPauses(burst.t0)
    gc.callbacks.append(pauses.callback)
    try:
        burst.run(envs)
    finally:
        gc.callbacks.remove(pauses.callback)
    after = resource.getrusage(resource.RUSAGE_SELF)
    payload = {
        "records": list(burst.records),
        "connections_opened": sum(env.connections_opened() for env in envs),
        # CPU seconds of this process (all its environment threads) during the burst
        "cpu_user_s": after.ru_utime - before.ru_utime,
        "cpu_sys_s": after.ru_stime - before.ru_stime,
        "extras": [report(env) for env in envs] if report else [],
        # Full (generation 2) garbage collections: (start s, pause ms); every thread of this
        # process waits for the GIL meanwhile.
        "gc_pauses": pauses.pauses,
    }
    ipc.out.put(("result", job.index, payload))


class GcPauses:
    """Records the worker's generation-2 collections (stop-the-world for its threads)."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.pauses: list[tuple[float, float]] = []
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        now = time.monotonic()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append(
                (round(self._started - self.t0, 3), round((now - self._started) * 1000, 1))
            )


class _Burst:
    def __init__(self, job: WorkerJob, ipc: WorkerIpc, t0: float) -> None:
        self.job, self.ipc, self.t0 = job, ipc, t0
        self.end = t0 + job.duration_s
        self.stop = threading.Event()
        self.records: list[Record] = []
        self.live = 0
        self.parent = os.getppid()

    def run(self, envs: Sequence[SimulatedEnvironment]) -> None:
        threads = [
            threading.Thread(
                target=self.environment, args=(env, at), daemon=True, name=f"env-{env.env_id}"
            )
            for env, at in zip(envs, self.job.activation_s, strict=True)
        ]
        watcher = threading.Thread(target=self.watch, daemon=True, name="watch")
        watcher.start()
        for thread in threads:
            thread.start()
        # Requests in flight at the end are bounded by the driver and server timeouts; a thread
        # still stuck after this is abandoned (daemon) and dies with the process.
        for thread in threads:
            thread.join(max(0.0, self.end + 30.0 - time.monotonic()))
        time.sleep(0.15)  # one more progress publication
        self.stop.set()
        watcher.join(1)

    def environment(self, env: SimulatedEnvironment, first_at: float) -> None:
        scheduled = self.t0 + first_at
        cold = 1
        try:
            while scheduled < self.end and not self.stop.is_set():
                delay = scheduled - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                if cold:
                    self.live += 1
                started = time.monotonic()
                try:
                    env.invoke()
                    code = 0
                except Exception as exc:  # every failure is a measured outcome
                    code = CAUSE_CODES[classify_cause(exc)]
                finished = time.monotonic()
                self.records.append(
                    (started - self.t0, (finished - started) * 1000.0, code, cold, env.env_id)
                )
                cold = 0
                scheduled = next_request_time(scheduled, self.job.interval_s, finished)
        finally:
            env.close()

    def watch(self) -> None:
        """Publish progress; stop early when the parent asks (or has died)."""
        seen = ok = errors = 0
        base = self.job.index * SLOT_WIDTH
        counters = self.ipc.counters
        while not self.stop.is_set():
            if self.ipc.stop.is_set() or os.getppid() != self.parent:
                self.stop.set()
                break
            current = len(self.records)
            for record in self.records[seen:current]:
                ok += record[2] == 0
                errors += record[2] != 0
            seen = current
            counters[base + SLOT_REQUESTS] = current
            counters[base + SLOT_OK] = ok
            counters[base + SLOT_ERRORS] = errors
            counters[base + SLOT_LIVE] = self.live
            time.sleep(0.1)
