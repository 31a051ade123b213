"""Repeated runs and concurrency sweeps: each figure's median and spread, verdicts per level."""

from __future__ import annotations

from typing import Any

from bench import settings as S
from bench.stats import spread

# The per-scenario figures a repeat summary spreads (median, min, max).
FIGURES = (
    "requests",
    "ok",
    "errors_total",
    "peak_server_connections",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cold_p50_ms",
    "other_processes_cores",
)
P99_GOAL = 1.5


def _scenario_compact(sc: dict[str, Any]) -> dict[str, Any]:
    cpu = sc.get("cpu") or {}
    # A run with failures keeps its timeline: when they happened and PgBouncer's queue then.
    keep = sum(sc["errors"].values()) > 0 and "timeline" in sc
    return {
        "timeline": sc["timeline"] if keep else None,
        "name": sc["name"],
        "concurrency": sc["concurrency"],
        "requests": sc["requests"],
        "ok": sc["ok"],
        "errors_total": sum(sc["errors"].values()),
        "errors": sc["errors"],
        "error_causes": sc.get("error_causes", {}),
        "peak_server_connections": sc["peak_server_connections"],
        "throughput_rps": sc["throughput_rps"],
        "p50_ms": sc["p50_ms"],
        "p95_ms": sc["p95_ms"],
        "p99_ms": sc["p99_ms"],
        "cold_p50_ms": sc["cold_p50_ms"],
        "other_processes_cores": cpu.get("other_processes_cores"),
        "machine_busy_cores": cpu.get("machine_busy_cores"),
        "pgbouncer_peak_1s_cores": cpu.get("pgbouncer_peak_1s_cores"),
        "bench_clients_cores": cpu.get("bench_clients_cores"),
        "pgbouncer_runqueue_wait_peak_1s": sc.get("pgbouncer_runqueue_wait_peak_1s"),
        "worker_gc_pause_max_ms": sc.get("worker_gc_pause_max_ms"),
    }


def fair_verdict(pairs: list[float]) -> str | None:
    """PASS if every back-to-back pair is within the goal, MISS if none is, else UNRESOLVED.

    The pooled round p99 varies 2-3x from round to round on a shared 2-CPU machine, more than
    the gap between the paths, so a single ratio flips between runs; a verdict is only given
    when all pairs agree.
    """
    if not pairs:
        return None
    if max(pairs) <= P99_GOAL:
        return "PASS"
    if min(pairs) > P99_GOAL:
        return "MISS"
    return "UNRESOLVED"


def read_split_verdict(
    pair_peaks: list[list[int]], errors_without: int, errors_with: int
) -> str | None:
    """The read split's goal: with the reader, the writer's peak server connections drop, at no
    more errors. PASS if the peak drops in every back-to-back pair (writer only, with reader),
    MISS if it drops in none or the errors grow, else UNRESOLVED."""
    if not pair_peaks:
        return None
    drops = [with_reader < writer_only for writer_only, with_reader in pair_peaks]
    if errors_with > errors_without or not any(drops):
        return "MISS"
    return "PASS" if all(drops) else "UNRESOLVED"


def fair_verdict_figure(fair: dict[str, Any] | None) -> float | None:
    """The figure the same-load p99 goal is judged on: the median of the pairs' ratios."""
    if not fair:
        return None
    value = fair.get("p99_ratio_median")
    return value if value is not None else fair.get("p99_ratio")


def compact(one_pass: dict[str, Any]) -> dict[str, Any]:
    """What a repeat keeps of one pass: the figures, not the timelines."""
    fair = one_pass.get("fair_comparison")
    fair_compact = None
    if fair:
        ratio = fair_verdict_figure(fair)
        fair_compact = {
            "p99_ratio": fair.get("p99_ratio"),
            "p99_ratio_median": fair.get("p99_ratio_median"),
            "pair_p99_ratios": fair.get("pair_p99_ratios"),
            "paths": {p["name"]: p["p99_ms"] for p in fair["paths"]},
            "errors": sum(sum(p["errors"].values()) for p in fair["paths"]),
            "verdict": fair_verdict(fair.get("pair_p99_ratios") or [])
            or (None if ratio is None else ("PASS" if ratio <= P99_GOAL else "MISS")),
        }
    return {
        "concurrency": one_pass["concurrency"],
        "wall_s": one_pass["wall_s"],
        "scenarios": [_scenario_compact(sc) for sc in one_pass["scenarios"]],
        "fair_comparison": fair_compact,
    }


def repeat_summary(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and spread of every figure over the passes of one concurrency level."""
    runs = [compact(p) for p in passes]
    names = list(dict.fromkeys(sc["name"] for run in runs for sc in run["scenarios"]))
    scenarios: dict[str, dict[str, Any]] = {}
    for name in names:
        entries = [sc for run in runs for sc in run["scenarios"] if sc["name"] == name]
        figures: dict[str, Any] = {
            figure: spread([e.get(figure) for e in entries]) for figure in FIGURES
        }
        figures["zero_error_runs"] = sum(e["errors_total"] == 0 for e in entries)
        figures["runs"] = len(entries)
        scenarios[name] = figures
    fairs = [run["fair_comparison"] for run in runs if run["fair_comparison"]]
    fair = None
    if fairs:
        verdicts = [f["verdict"] for f in fairs]
        fair = {
            "p99_ratio_median": spread([f["p99_ratio_median"] for f in fairs]),
            "p99_ratio": spread([f["p99_ratio"] for f in fairs]),
            "verdicts": verdicts,
            "verdict_stable": len(set(verdicts)) == 1,
        }
    return {"runs": len(runs), "scenarios": scenarios, "fair_comparison": fair}


def sweep_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per level, the pooled scenario's errors in each run; the largest level with 0 in all."""
    levels: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        levels.setdefault(run["concurrency"], []).append(run)
    rows = []
    for level, level_runs in sorted(levels.items()):
        pooled = [
            sc for run in level_runs for sc in run["scenarios"] if sc["name"] == S.MODULE_POOLED
        ]
        causes: dict[str, int] = {}
        for sc in pooled:
            for cause, count in sc["error_causes"].items():
                causes[cause] = causes.get(cause, 0) + count
        rows.append(
            {
                "concurrency": level,
                "runs": len(pooled),
                "errors_per_run": [sc["errors_total"] for sc in pooled],
                "zero_error_runs": sum(sc["errors_total"] == 0 for sc in pooled),
                "error_causes": causes,
                "throughput_rps": spread([sc["throughput_rps"] for sc in pooled]),
                "peak_server_connections": spread([sc["peak_server_connections"] for sc in pooled]),
                "p99_ms": spread([sc["p99_ms"] for sc in pooled]),
                "pgbouncer_peak_1s_cores": spread([sc["pgbouncer_peak_1s_cores"] for sc in pooled]),
                "bench_clients_cores": spread([sc["bench_clients_cores"] for sc in pooled]),
                "pgbouncer_runqueue_wait_peak_1s": spread(
                    [sc.get("pgbouncer_runqueue_wait_peak_1s") for sc in pooled]
                ),
                "other_processes_cores": spread([sc["other_processes_cores"] for sc in pooled]),
            }
        )
    held = [r["concurrency"] for r in rows if r["runs"] and r["zero_error_runs"] == r["runs"]]
    return {"levels": rows, "largest_all_zero_errors": max(held) if held else None}
