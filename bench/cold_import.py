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
CHILD = (
    "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
)


def measure(module: str, runs: int, env: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


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
    print(f"{'module':28} {'scenario':12} {'median':>7} {'min':>7} {'max':>7}")
    for module in MODULES:
        for name, env in scenarios.items():
            samples = measure(module, args.runs, env)
            print(
                f"{module:28} {name:12} {statistics.median(samples):7.1f} "
                f"{min(samples):7.1f} {max(samples):7.1f}"
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
