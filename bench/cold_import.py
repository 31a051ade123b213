"""Cold import time of the Lambda handler modules, each in fresh interpreters (not a test).

Usage: .venv/bin/python bench/cold_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("orders.handlers.api", "orders.handlers.direct", "orders.handlers.migrate")
# Wall time and CPU time of the import alone (interpreter start-up excluded). CPU time is the
# steadier number on a loaded machine; wall time is what a cold start pays on an idle core.
CHILD = (
    "import time; w = time.perf_counter(); c = time.process_time(); import {module}; "
    "print((time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000)"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "lambda_src"),
        "PYTHONDONTWRITEBYTECODE": "0",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "Orders",
    }
    scenarios = {
        "tracing off": {
            **base,
            "LAMBDA_TASK_ROOT": "/var/task",
            "POWERTOOLS_TRACE_DISABLED": "true",
        },
        "tracing on": {**base, "LAMBDA_TASK_ROOT": "/var/task"},
    }
    # Warm the bytecode cache once: Lambda ships .py files and compiles on the first cold start
    # unless the asset contains __pycache__; the numbers below are with bytecode present.
    measure(MODULES[0], 1, scenarios["tracing on"])
    print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters per row (ms)")
    print("| module | scenario | wall median | wall min | CPU median | CPU min |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for module in MODULES:
        for name, env in scenarios.items():
            wall, cpu = measure(module, args.runs, env)
            print(
                f"| `{module}` | {name} | {statistics.median(wall):.0f} | {min(wall):.0f} "
                f"| {statistics.median(cpu):.0f} | {min(cpu):.0f} |"
            )
    print("\nlargest direct imports of orders.handlers.api, tracing off (cumulative µs):")
    env = scenarios["tracing off"]
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import orders.handlers.api"],
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
    for cumulative, name in sorted(rows, reverse=True)[:10]:
        print(f"{cumulative:>9}  {name}")


if __name__ == "__main__":
    main()
