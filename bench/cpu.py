"""CPU accounting from /proc: who used the machine's CPUs during a scenario."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path

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

    def __init__(
        self,
        postmaster: int | None,
        bouncer: int | None,
        *,
        reader: tuple[int | None, int | None] | None = None,
    ) -> None:
        """``reader``: the replica's postmaster and the read pool's pid, when there is one
        (reported as ``replica_cores`` and ``reader_pgbouncer_cores``)."""
        self.postmaster, self.bouncer = postmaster, bouncer
        self.reader = reader
        self._start = self._read()

    def _read(self) -> tuple[float, ...]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        busy, steal = machine_busy_s()
        replica, reader_bouncer = self.reader or (None, None)
        return (
            time.monotonic(),
            busy,
            steal,
            own.ru_utime + own.ru_stime,
            postgres_cpu_s(self.postmaster),
            process_cpu_s(self.bouncer),
            postgres_cpu_s(replica),
            process_cpu_s(reader_bouncer),
        )

    def stop(self, workers_cpu_s: float, pgbouncer_peak: float | None) -> dict[str, float]:
        end = self._read()
        wall, busy, steal, parent, *servers = (b - a for a, b in zip(self._start, end, strict=True))
        wall = max(wall, 1e-9)
        # A restarted server (the drill) has a new pid: its old counters are gone, not negative.
        postgres, bouncer, replica, reader_bouncer = (max(0.0, s) for s in servers)
        clients = workers_cpu_s + parent
        other = max(0.0, busy - clients - postgres - bouncer - replica - reader_bouncer)
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
        if self.reader is not None:
            cpu["replica_cores"] = round(replica / wall, 2)
            cpu["reader_pgbouncer_cores"] = round(reader_bouncer / wall, 2)
        return cpu
