"""One scenario's records turned into its JSON entry, and the fair same-load comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench import settings as S
from bench.stats import CAUSE_KIND, CAUSE_NAMES, ERROR_KINDS, bucket_counts, percentile
from bench.worker import CODE_CAUSES, Record

TIMELINE_BUCKET_S = 0.5
# After the last request is issued: connect (2 s) + borrow (3 s) + statement (5 s), twice with the
# retry, fits in this; anything still running after it is abandoned and its process terminated.
GRACE_S = 30.0


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class Tally:
    """Errors of a set of records, by coarse kind and by cause (which timeout fired, ...)."""

    kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    causes: dict[str, int] = field(default_factory=dict)

    def add(self, code: int) -> None:
        cause = CODE_CAUSES[code]
        self.kinds[CAUSE_KIND[cause]] += 1
        self.causes[cause] = self.causes.get(cause, 0) + 1

    def merge(self, other: Tally) -> None:
        for kind, count in other.kinds.items():
            self.kinds[kind] += count
        for cause, count in other.causes.items():
            self.causes[cause] = self.causes.get(cause, 0) + count

    def causes_in_order(self) -> dict[str, int]:
        return {name: self.causes[name] for name in CAUSE_NAMES if name in self.causes}


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
    pools: list[tuple[float, int, int, int, int, int, float]] = field(default_factory=list)
    sched: list[tuple[float, float, float]] = field(default_factory=list)
    gc_pauses: list[tuple[float, float]] = field(default_factory=list)
    connections_opened: int = 0
    wall_s: float = 0.0
    cpu: dict[str, float] | None = None

    def measured(self, warmup_s: float) -> tuple[list[float], Tally, int]:
        """Warm successful latencies, errors and successes, from ``warmup_s`` on."""
        tally = Tally()
        warm: list[float] = []
        ok = 0
        for start, latency, code, is_cold, _env in self.records:
            if start < warmup_s:
                continue
            if code:
                tally.add(code)
                continue
            ok += 1
            if not is_cold:
                warm.append(latency)
        return warm, tally, ok

    def summary(self) -> dict[str, Any]:
        """The scenario's JSON entry (schema in docs/bench.md)."""
        tally = Tally()
        warm: list[float] = []
        cold: list[float] = []
        ok_in_hold = 0
        envs_served: set[int] = set()
        for start, latency, code, is_cold, env_id in self.records:
            if code:
                tally.add(code)
                continue
            envs_served.add(env_id)
            ok_in_hold += start >= self.ramp_s
            (cold if is_cold else warm).append(latency)
        hold_s = max(self.duration_s - self.ramp_s, 1e-9)
        return {
            "name": self.name,
            "label": S.SCENARIO_LABELS[self.name],
            "concurrency": self.concurrency,
            "requests": len(self.records),
            "ok": len(warm) + len(cold),
            "errors": tally.kinds,
            "error_causes": tally.causes_in_order(),
            "peak_server_connections": max((count for _, count in self.samples), default=0),
            "server_connection_cap": self.cap,
            "p50_ms": rounded(percentile(warm, 50)),
            "p95_ms": rounded(percentile(warm, 95)),
            "p99_ms": rounded(percentile(warm, 99)),
            "cold_p50_ms": rounded(percentile(cold, 50)),
            "throughput_rps": round(ok_in_hold / hold_s, 1),
            "warm_ok": len(warm),
            "cold_ok": len(cold),
            "environments_served": len(envs_served),
            "connections_opened": self.connections_opened,
            "pool_k": self.pool_k,
            "wall_s": round(self.wall_s, 1),
            "cpu": self.cpu,
            "pgbouncer_runqueue_wait_peak_1s": max((r[2] for r in self.sched), default=None),
            "worker_gc_pause_max_ms": max((p[1] for p in self.gc_pauses), default=None),
            "timeline": self.timeline(),
        }

    def timeline(self) -> dict[str, Any]:
        last = max([r[0] for r in self.records] + [s[0] for s in self.samples] + [0.0])
        end = min(self.duration_s + GRACE_S, last + TIMELINE_BUCKET_S)
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
        timeline: dict[str, Any] = {
            "bucket_s": TIMELINE_BUCKET_S,
            "server_connections_max": conns,
            "ok_per_s": [n * per_s for n in bucket_counts(ok_times, TIMELINE_BUCKET_S, span)],
            "errors_per_s": [n * per_s for n in bucket_counts(err_times, TIMELINE_BUCKET_S, span)],
        }
        if self.pools:
            # PgBouncer's SHOW POOLS, sampled: clients waiting for a server, servers logging in.
            timeline["pgbouncer_pools"] = {
                "columns": ["t", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_login",
                            "maxwait_s"],
                "rows": [list(row) for row in self.pools],
            }  # fmt: skip
        if self.gc_pauses:
            timeline["worker_gc_pauses"] = {
                "columns": ["t", "pause_ms"],
                "rows": [list(row) for row in sorted(self.gc_pauses)],
            }
        if self.sched:
            timeline["pgbouncer_sched"] = {
                "columns": ["t", "cpu_cores", "runqueue_wait_cores"],
                "rows": [list(row) for row in self.sched],
            }
        return timeline


def path_summary(name: str, rounds: list[ScenarioRun], warmup_s: float, measured_s: float,
                 cap: int | None) -> dict[str, Any]:  # fmt: skip
    """One path of a same-load comparison: its rounds' warm figures after the warm-up."""
    warm: list[float] = []
    tally = Tally()
    ok = 0
    round_p99: list[float | None] = []
    for run in rounds:
        run_warm, run_tally, run_ok = run.measured(warmup_s)
        warm += run_warm
        ok += run_ok
        tally.merge(run_tally)
        round_p99.append(rounded(percentile(run_warm, 99)))
    return {
        "name": name,
        "label": S.SCENARIO_LABELS[name],
        "concurrency": rounds[0].concurrency,
        "rounds": len(rounds),
        "requests": ok + sum(tally.kinds.values()),
        "ok": ok,
        "errors": tally.kinds,
        "error_causes": tally.causes_in_order(),
        "warm_ok": len(warm),
        "p50_ms": rounded(percentile(warm, 50)),
        "p95_ms": rounded(percentile(warm, 95)),
        "p99_ms": rounded(percentile(warm, 99)),
        "round_p99_ms": round_p99,
        "throughput_rps": round(ok / max(measured_s * len(rounds), 1e-9), 1),
        "peak_server_connections": max(
            (count for run in rounds for _, count in run.samples), default=0
        ),
        "server_connection_cap": cap,
        "cpu": [run.cpu for run in rounds],
    }


def back_to_back_pairs(
    runs: list[ScenarioRun], base: str, other: str
) -> list[tuple[ScenarioRun, ScenarioRun]]:
    """(base, other) for each adjacent pair of rounds in run order (ABBA: 1-2, 3-4, ...)."""
    pairs = []
    for first, second in zip(runs[::2], runs[1::2], strict=False):
        by_name = {first.name: first, second.name: second}
        if base in by_name and other in by_name:
            pairs.append((by_name[base], by_name[other]))
    return pairs


def paired_ratios(
    runs: list[ScenarioRun],
    warmup_s: float,
    *,
    base: str = S.MODULE_DIRECT,
    other: str = S.MODULE_POOLED,
) -> list[float]:
    """``other`` / ``base`` p99 (pooled / direct by default) of each back-to-back pair.

    ABBA order makes rounds 1-2, 3-4, ... pairs that ran back to back: each ratio compares
    the two paths under the same machine load, whatever other jobs did between pairs.
    """
    ratios: list[float] = []
    for first, second in back_to_back_pairs(runs, base, other):
        b99 = percentile(first.measured(warmup_s)[0], 99)
        o99 = percentile(second.measured(warmup_s)[0], 99)
        if b99 and o99:
            ratios.append(round(o99 / b99, 2))
    return ratios


def fair_comparison(
    runs: list[ScenarioRun], *, warmup_s: float, measured_s: float, cap: int | None
) -> dict[str, Any]:
    """Direct vs pooled at the same offered load: warm percentiles after the warm-up, per path.

    ``runs`` are the rounds in the order they ran (ABBA); each path's percentiles pool the warm
    successes of its rounds, and each round's p99 is listed to show the spread. The verdict's
    figure is ``p99_ratio_median``: the median of the back-to-back pairs' ratios.
    """
    paths = [
        path_summary(
            name,
            [run for run in runs if run.name == name],
            warmup_s,
            measured_s,
            cap if name == S.MODULE_POOLED else None,
        )
        for name in dict.fromkeys(run.name for run in runs)
    ]
    by_name = {path["name"]: path for path in paths}
    direct, pooled = by_name.get(S.MODULE_DIRECT), by_name.get(S.MODULE_POOLED)
    ratio = None
    if direct and pooled and direct["p99_ms"] and pooled["p99_ms"]:
        ratio = round(pooled["p99_ms"] / direct["p99_ms"], 2)
    pairs = paired_ratios(runs, warmup_s)
    return {
        "order": [run.name for run in runs],
        "paths": paths,
        "p99_ratio": ratio,
        "pair_p99_ratios": pairs,
        "p99_ratio_median": percentile(pairs, 50) if pairs else None,
    }
