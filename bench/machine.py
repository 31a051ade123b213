"""What machine a run measured: CPUs, memory, versions, load."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from typing import Any

import psycopg

from localpg import LocalPgBouncer, LocalPostgres


def _first_line_value(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as handle:
        for line in handle:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _pgbouncer_version(pg: LocalPostgres) -> str:
    try:
        binary = LocalPgBouncer(pg).binary
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=False
        )
    except Exception as exc:  # informational only
        return f"unknown ({exc})"
    return out.stdout.splitlines()[0].strip() if out.stdout else "unknown"


def machine_info(pg: LocalPostgres) -> dict[str, Any]:
    memory = _first_line_value("/proc/meminfo", "MemTotal")
    mem_gib = round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _first_line_value("/proc/cpuinfo", "model name") or "",
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": f"PostgreSQL {pg.execute('SHOW server_version')[0][0]}",
        "pgbouncer": _pgbouncer_version(pg),
        "psycopg": psycopg.__version__,
        # 1, 5 and 15 min load averages before the scenarios: other jobs on the machine
        "loadavg_at_start": loadavg(),
    }
