"""Background sampling during a burst: server connections, PgBouncer's queue and its CPU."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from localpg import LocalPgBouncer, LocalPostgres

SAMPLE_INTERVAL_S = 0.025
POOL_SAMPLE_INTERVAL_S = 0.25
RECONNECT_PAUSE_S = 0.2
# One PgBouncer SHOW POOLS row per sample: (t, clients active, clients waiting, servers active,
# servers idle, servers logging in, longest client wait in s).
PoolSample = tuple[float, int, int, int, int, int, float]


class Sampler:
    """Counts the bench role's server connections in pg_stat_activity every ~25 ms.

    With a PgBouncer it also samples SHOW POOLS every ~250 ms (are clients waiting for a server
    connection, or for a login?) and keeps the highest CPU use of PgBouncer's single thread over
    ~1 s windows (is the stand-in pegged?). Survives a server restart: it reconnects and goes on.
    """

    def __init__(
        self,
        pg: LocalPostgres,
        role: str,
        t0: float,
        bouncer: LocalPgBouncer | None = None,
    ) -> None:
        self.samples: list[tuple[float, int]] = []
        self.pools: list[PoolSample] = []
        # Per ~1 s: (t, PgBouncer's CPU in cores, its run-queue wait in cores): a single-threaded
        # pooler that waits for a CPU while it has work is starved, not saturated.
        self.pgbouncer_sched: list[tuple[float, float, float]] = []
        self.pgbouncer_peak: float | None = None if bouncer is None else 0.0
        self._pg, self._role, self._t0 = pg, role, t0
        self._bouncer = bouncer
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True, name="sampler")]
        if bouncer is not None:
            self._threads.append(
                threading.Thread(target=self._run_pools, daemon=True, name="pool-sampler")
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psycopg.Error), self._pg.connect() as conn:
                self._sample(conn)
            self._stop.wait(RECONNECT_PAUSE_S)

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        last_t, last = time.monotonic(), self._bouncer_sched()
        while not self._stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self._role,)
            ).fetchone()
            now = time.monotonic()
            self.samples.append((now - self._t0, int(row[0]) if row else 0))
            if self._bouncer is not None and now - last_t >= 1.0:
                sched = self._bouncer_sched()
                if sched[0] >= last[0]:  # a restarted PgBouncer starts from 0
                    use = (sched[0] - last[0]) / 1e9 / (now - last_t)
                    waited = (sched[1] - last[1]) / 1e9 / (now - last_t)
                    self.pgbouncer_peak = max(self.pgbouncer_peak or 0.0, use)
                    self.pgbouncer_sched.append((round(now - self._t0, 2), round(use, 3),
                                                 round(waited, 3)))  # fmt: skip
                last_t, last = now, sched
            self._stop.wait(SAMPLE_INTERVAL_S)

    def _bouncer_sched(self) -> tuple[int, int]:
        """PgBouncer's time on a CPU and time runnable but waiting for one (ns, schedstat)."""
        if self._bouncer is None or self._bouncer.pid is None:
            return 0, 0
        try:
            fields = Path(f"/proc/{self._bouncer.pid}/schedstat").read_text().split()
            return int(fields[0]), int(fields[1])
        except (OSError, ValueError, IndexError):
            return 0, 0

    def _run_pools(self) -> None:
        bouncer = self._bouncer
        assert bouncer is not None
        pg = bouncer.postgres
        while not self._stop.is_set():
            with contextlib.suppress(psycopg.Error):
                conninfo = bouncer.conninfo(
                    user=pg.superuser,
                    password=pg.superuser_password,
                    dbname="pgbouncer",
                    connect_timeout=2,
                )
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    while not self._stop.is_set():
                        self._sample_pools(conn)
                        self._stop.wait(POOL_SAMPLE_INTERVAL_S)
            self._stop.wait(RECONNECT_PAUSE_S)

    def _sample_pools(self, conn: psycopg.Connection[Any]) -> None:
        cur = conn.execute("SHOW POOLS")
        names = [column.name for column in cur.description or []]
        totals = dict.fromkeys(("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_login"), 0)
        wait = 0.0
        for row in cur.fetchall():
            values = dict(zip(names, row, strict=True))
            if values.get("database") == "pgbouncer":
                continue
            for key in totals:
                totals[key] += int(values.get(key) or 0)
            wait = max(
                wait, int(values.get("maxwait") or 0) + int(values.get("maxwait_us") or 0) / 1e6
            )
        self.pools.append(
            (
                time.monotonic() - self._t0,
                totals["cl_active"],
                totals["cl_waiting"],
                totals["sv_active"],
                totals["sv_idle"],
                totals["sv_login"],
                round(wait, 3),
            )
        )

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
