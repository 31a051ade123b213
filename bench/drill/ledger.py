"""After a drill run: the write ledger against the table, recovery times, failures by cause."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from bench.stats import CAUSE_NAMES, percentile
from localpg import LocalPostgres

# Throughput is "back" when a 1 s window after the fault holds this share of the pre-fault rate.
RECOVERED_SHARE = 0.9
WINDOW_S = 1.0
STEP_S = 0.25


@dataclass(frozen=True)
class Attempts:
    """Every attempt of a run as (start s, end s, op, cause, status, attempt no.), t0-relative."""

    rows: list[tuple[float, float, str, str, int, int]]

    @classmethod
    def from_extras(cls, extras: list[dict[str, Any]], t0: float) -> Attempts:
        rows = [
            (start - t0, end - t0, op, cause, status, attempt)
            for extra in extras
            for start, end, op, cause, status, attempt in extra["attempts"]
        ]
        rows.sort()
        return cls(rows)

    def ok_ends(self) -> list[float]:
        return sorted(row[1] for row in self.rows if row[3] == "ok")

    def failures(self, since: float = float("-inf")) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            if row[3] != "ok" and row[0] >= since:
                counts[row[3]] = counts.get(row[3], 0) + 1
        return {name: counts[name] for name in CAUSE_NAMES if name in counts}


def verify_ledger(pg: LocalPostgres, dbname: str, prefix: str,
                  extras: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """Every acknowledged create must be in the table, once, with the id the client was given."""
    rows = pg.execute(
        "SELECT idempotency_key, count(*), min(order_id::text), max(order_id::text) "
        "FROM shop.orders WHERE idempotency_key LIKE %s GROUP BY idempotency_key",
        (prefix + "-%",),
        dbname=dbname,
    )
    table = {key: (int(count), first, last) for key, count, first, last in rows}
    acked = {ack[0]: ack for extra in extras for ack in extra["acks"]}
    found = [key for key in acked if key in table]
    mismatched = [key for key in found if table[key][0] == 1 and table[key][1] != acked[key][2]]
    abandoned = [key for extra in extras for key in extra["abandoned"]]
    return {
        "acknowledged_writes": len(acked),
        "acknowledged_created_201": sum(1 for a in acked.values() if a[3] == 201),
        "acknowledged_replayed_200": sum(1 for a in acked.values() if a[3] == 200),
        "acknowledged_after_retry": sum(1 for a in acked.values() if a[4] > 1),
        "rows_found": len(found),
        "lost_acknowledged_writes": len(acked) - len(found),
        "lost_keys": sorted(set(acked) - set(found))[:20],
        "duplicate_rows": sum(count - 1 for count, _, _ in table.values()),
        "order_id_mismatches": len(mismatched),
        "rows_total": len(table),
        "unacknowledged_rows": len(set(table) - set(acked)),
        "abandoned_creates": len(abandoned),
        "abandoned_but_committed": sum(1 for key in abandoned if key in table),
        "pending_at_end": sum(1 for extra in extras if extra["pending"]),
    }


def _rate(ends: list[float], start: float, end: float) -> float:
    return sum(1 for t in ends if start <= t < end) / max(end - start, 1e-9)


def recovery(attempts: Attempts, *, fault_start: float, fault_end: float, baseline_from: float,
             run_end: float) -> dict[str, Any]:  # fmt: skip
    """Fault -> first success, and -> the first 1 s window back at 90 % of the pre-fault rate."""
    ends = attempts.ok_ends()
    baseline = _rate(ends, baseline_from, fault_start)
    first = [row[1] for row in attempts.rows if row[3] == "ok" and row[0] >= fault_start]
    back = None
    t = fault_start
    while t + WINDOW_S <= run_end:
        if _rate(ends, t, t + WINDOW_S) >= RECOVERED_SHARE * baseline:
            back = round(t - fault_start, 2)
            break
        t += STEP_S
    return {
        "to_first_success": round(min(first) - fault_start, 2) if first else None,
        "longest_gap_without_success": _longest_gap(ends, fault_start, run_end),
        "to_old_throughput": back,
        "fault_duration": round(fault_end - fault_start, 2),
        "baseline_ok_per_s": round(baseline, 1),
    }


def _longest_gap(ends: list[float], start: float, end: float) -> float:
    """The longest time without any successful completion from ``start`` to ``end``."""
    points = [start, *(t for t in ends if start <= t <= end), end]
    return round(max(b - a for a, b in itertools.pairwise(points)), 2)


def timeline(attempts: Attempts, end_s: float) -> dict[str, Any]:
    """ok and failed attempts per second, by completion time."""
    buckets = max(1, int(end_s) + 1)
    ok, failed = [0] * buckets, [0] * buckets
    for row in attempts.rows:
        index = int(row[1])
        if 0 <= index < buckets:
            (ok if row[3] == "ok" else failed)[index] += 1
    return {"bucket_s": 1.0, "ok_per_s": ok, "failed_per_s": failed}


def credential_use(extras: list[dict[str, Any]], t0: float, change_at: float,
                   new_credential: str | None) -> dict[str, int]:  # fmt: skip
    """Connect attempts before/after the change, and with which credential."""
    after = [token for extra in extras for when, token in extra["tokens"] if when - t0 >= change_at]
    new = sum(1 for token in after if token == new_credential)
    return {
        "connect_attempts_after_change": len(after),
        "with_new_credential": new,
        "with_old_credential": len(after) - new,
    }


READ_KEYS = ("reader", "writer", "reader_unavailable", "reader_miss", "failed")


def _served_counts(rows: list[tuple[float, float, str, str, str]]) -> dict[str, Any]:
    counts = dict.fromkeys(READ_KEYS, 0)
    for _, _, _, served, reason in rows:
        counts["failed" if served == "none" else served] += 1
        if reason:
            counts[reason] += 1
    total = len(rows)
    return {**counts, "total": total,
            "reader_share": round(counts["reader"] / total, 3) if total else None}  # fmt: skip


def _reads_timeline(rows: list[tuple[float, float, str, str, str]], end_s: float) -> dict[str, Any]:
    """Reads answered per second by the reader and by the writer, by completion time."""
    buckets = max(1, int(end_s) + 1)
    per_s = {"reader": [0] * buckets, "writer": [0] * buckets}
    for _, end, _, served, _ in rows:
        if served in per_s and 0 <= int(end) < buckets:
            per_s[served][int(end)] += 1
    return {"bucket_s": 1.0, "reader_per_s": per_s["reader"], "writer_per_s": per_s["writer"]}


def reads_summary(extras: list[dict[str, Any]], t0: float, *, fault_start: float,
                  fault_end: float, end_s: float) -> dict[str, Any]:  # fmt: skip
    """With a reader: who answered the reads (of seeded orders: get, list) before, during and
    after the fault (by start time), how soon the reader answered again once the replica was
    back, and apart, the reads of just-acknowledged orders (read-after-write: a 404 is false)."""
    every = sorted(
        (start - t0, end - t0, op, served, reason)
        for extra in extras
        for start, end, op, served, reason in extra.get("reads", [])
    )
    rows = [r for r in every if r[2] != "get-own"]
    own = [r for r in every if r[2] == "get-own"]
    phases = {
        "before_fault": [r for r in rows if r[0] < fault_start],
        "during_fault": [r for r in rows if fault_start <= r[0] < fault_end],
        "after_fault": [r for r in rows if r[0] >= fault_end],
    }
    back = [r[1] for r in phases["after_fault"] if r[3] == "reader"]
    fallback_ms = sorted(
        (r[1] - r[0]) * 1000 for r in rows if r[3] == "writer" and r[4] == "reader_unavailable"
    )
    return {
        **{phase: _served_counts(part) for phase, part in phases.items()},
        "back_on_reader_s": round(min(back) - fault_end, 2) if back else None,
        "fallback_read_ms": {
            "p50": None if not fallback_ms else round(percentile(fallback_ms, 50) or 0.0, 1),
            "max": round(fallback_ms[-1], 1) if fallback_ms else None,
        },
        "read_after_write": {
            "gets": len(own),
            "answered_by_reader": sum(1 for r in own if r[3] == "reader"),
            "reader_missed_writer_answered": sum(
                1 for r in own if r[3] == "writer" and r[4] == "reader_miss"
            ),
            "reader_down_writer_answered": sum(
                1 for r in own if r[3] == "writer" and r[4] == "reader_unavailable"
            ),
            "failed": sum(1 for r in own if r[3] == "none"),
            "false_404s": sum(int(extra.get("false_404s", 0)) for extra in extras),
        },
        "timeline": _reads_timeline(rows, end_s),
    }
