"""Cold import time of the Lambda handler modules, each in fresh interpreters (not a test).

One row per handler (api, direct, migrate). The functions carry no tracing SDK (Lambda active
tracing needs none), so `functions.tracing` does not change what they import: there is no
tracing on/off scenario any more.

Usage: .venv/bin/python bench/cold_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {
    "api": "orders.handlers.api",
    "direct": "orders.handlers.direct",
    "migrate": "orders.handlers.migrate",
}
# Wall time and CPU time of the import alone (interpreter start-up excluded). CPU time is the
# steadier number on a loaded machine; wall time is what a cold start pays on an idle core.
CHILD = (
    "import time; w = time.perf_counter(); c = time.process_time(); import {module}; "
    "print((time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000)"
)


def lambda_env() -> dict[str, str]:
    """What the import sees in Lambda: the task root set, powertools' service and namespace.

    `orders` comes from the dev environment's editable install (make setup), as from the task
    root on Lambda.
    """
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "0",
        "LAMBDA_TASK_ROOT": "/var/task",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "PgProxyOrders",
    }


@dataclass(frozen=True)
class Row:
    handler: str
    module: str
    wall_ms: list[float]
    cpu_ms: list[float]

    def markdown(self) -> str:
        wall, cpu = self.wall_ms, self.cpu_ms
        return (
            f"| {self.handler} | `{self.module}` | {statistics.median(wall):.0f} | {min(wall):.0f} "
            f"| {statistics.median(cpu):.0f} | {min(cpu):.0f} |"
        )


def measure(module: str, runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        )
        w, c = out.stdout.strip().splitlines()[-1].split()
        wall.append(float(w))
        cpu.append(float(c))
    return wall, cpu


def measure_handlers(runs: int, env: dict[str, str] | None = None) -> list[Row]:
    """`runs` fresh interpreters per handler module, bytecode cache warmed first."""
    env = env if env is not None else lambda_env()
    # Warm the bytecode cache once: Lambda ships .py files and compiles on the first cold start
    # unless the asset contains __pycache__; the numbers are with bytecode present.
    for module in HANDLERS.values():
        measure(module, 1, env)
    return [Row(name, module, *measure(module, runs, env)) for name, module in HANDLERS.items()]


def largest_imports(module: str, env: dict[str, str], top: int = 10) -> list[tuple[int, str]]:
    """(cumulative µs, name) of the slowest imports under `module` (python -X importtime)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    rows = []
    for line in out.stderr.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3:
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    env = lambda_env()
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters per row (ms)")
    print("| handler | module | wall median | wall min | CPU median | CPU min |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for row in measure_handlers(args.runs, env):
        print(row.markdown())
    print(f"\nlargest imports of {HANDLERS['api']} (cumulative µs):")
    for cumulative, name in largest_imports(HANDLERS["api"], env):
        print(f"{cumulative:>9}  {name}")


if __name__ == "__main__":
    main()
