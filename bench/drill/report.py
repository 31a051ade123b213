"""Drill outputs: the table, drill-latest.json and the PNG timeline with each fault marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _causes(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:g}"


def markdown(result: dict[str, Any]) -> str:
    st, machine = result["settings"], result["machine"]
    lines = [
        f"Drill: {st['concurrency']} environments through PgBouncer (transaction pooling, pool "
        f"{st['pool_size']}), ~{st['rate_rps']:g} req/s, {st['create_share']:.0%} creates with "
        f"a unique idempotency key each (a failed create is retried with the same key, at most "
        f"{st['max_attempts']} attempts), ramp {st['ramp_s']:g} s, {st['duration_s']:g} s per "
        f"fault, fault at t={st['fault_at_s']:g} s. Machine: {machine['cpu_count']} CPU, "
        f"{machine['postgres']}, {machine['pgbouncer']}; wall {result['wall_s']:g} s.",
        "",
        "| Fault | Requests | Acknowledged creates | Rows found | Lost acknowledged | Duplicate "
        "rows | Failed requests (by cause) | To first success s | To old throughput s "
        "| Peak server conns |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for fault in result["faults"]:
        if not fault.get("ran", True) and "requests" not in fault:
            lines.append(f"| {fault['name']} | NOT RUN: {fault.get('not_run_reason')} "
                         "| | | | | | | | |")  # fmt: skip
            continue
        rec = fault["recovery_s"]
        lines.append(
            f"| {fault['name']} | {fault['requests']} | {fault['acknowledged_writes']} "
            f"| {fault['rows_found']} | {fault['lost_acknowledged_writes']} "
            f"| {fault['duplicate_rows']} | {_causes(fault['failed_requests'])} "
            f"| {_seconds(rec['to_first_success'])} | {_seconds(rec['to_old_throughput'])} "
            f"| {fault['peak_server_connections']} |"
        )
    lines += reader_lines(result)
    lines += ["", *verdicts(result)]
    return "\n".join(lines) + "\n"


def reader_lines(result: dict[str, Any]) -> list[str]:
    """For the reader drill: who answered the reads before, during and after the outage."""
    lines = []
    for fault in result["faults"]:
        reads = fault.get("reads")
        if not reads:
            continue
        before, during, after = reads["before_fault"], reads["during_fault"], reads["after_fault"]
        raw, fallback = reads["read_after_write"], reads["fallback_read_ms"]
        lines += [
            "",
            f"Reads in {fault['name']} (reader: a hot standby {reads['apply_delay_ms']} ms behind "
            f"the writer, its own pool; down {reads['replica_down_s']:g} s). Reads of seeded "
            "orders (get, list), by start time:",
            f"- before the fault: {before['reader']} of {before['total']} reads answered by the "
            f"reader, {before['reader_miss']} by the writer after a reader miss",
            f"- replica down: {during['reader_unavailable']} of {during['total']} reads answered "
            f"by the writer after the reader failed (their latency p50 {_ms(fallback['p50'])} ms, "
            f"max {_ms(fallback['max'])} ms), {during['reader']} by the reader, "
            f"{during['failed']} failed",
            f"- replica back: reads on the reader again {_seconds(reads['back_on_reader_s'])} s "
            f"later; {after['reader']} of {after['total']} reads after it answered by the "
            f"reader, {after['failed']} failed",
            f"- read-after-write GETs (the order just created, at the next invocation): "
            f"{raw['gets']}; the reader answered {raw['answered_by_reader']}, missed "
            f"{raw['reader_missed_writer_answered']} (replica lag) that the writer then "
            f"answered, the writer answered {raw['reader_down_writer_answered']} while the "
            f"replica was down; {raw['failed']} failed; false 404s: {raw['false_404s']}",
            f"- peak server connections: writer {fault['peak_server_connections']}, reader "
            f"{reads['reader_peak_server_connections']}",
        ]
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def reader_verdict(fault: dict[str, Any]) -> str:
    """The reader drill's own goals: fallback without failures, return, no false 404."""
    reads = fault["reads"]
    during, after = reads["during_fault"], reads["after_fault"]
    false_404s = reads["read_after_write"]["false_404s"]
    failed = during["failed"] + after["failed"] + reads["read_after_write"]["failed"]
    ok = (
        during["reader_unavailable"] > 0
        and failed == 0
        and reads["back_on_reader_s"] is not None
        and false_404s == 0
    )
    return (
        f"- {'PASS' if ok else 'MISS'}: {fault['name']} reads: {during['reader_unavailable']} "
        f"answered by the writer while the replica was down, {failed} failed after the fault, "
        f"back on the reader after {_seconds(reads['back_on_reader_s'])} s; "
        f"{false_404s} false 404s of {reads['read_after_write']['gets']} read-after-write GETs"
    )


def verdicts(result: dict[str, Any]) -> list[str]:
    """PASS/MISS per fault on the two invariants; NOT RUN stays visible."""
    out = []
    for fault in result["faults"]:
        if "requests" not in fault:
            out.append(f"- NOT RUN: {fault['name']}: {fault.get('not_run_reason')}")
            continue
        ok = fault["lost_acknowledged_writes"] == 0 and fault["duplicate_rows"] == 0
        extra = "" if fault.get("ran") else f" (fault did not apply: {fault.get('fault_error')})"
        out.append(
            f"- {'PASS' if ok else 'MISS'}: {fault['name']}: "
            f"{fault['lost_acknowledged_writes']} lost acknowledged writes, "
            f"{fault['duplicate_rows']} duplicate rows, {fault['order_id_mismatches']} order id "
            f"mismatches of {fault['acknowledged_writes']} acknowledged{extra}"
        )
        if "reads" in fault:
            out.append(reader_verdict(fault))
    return out


def write_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415  # only when a chart is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ran = [f for f in result["faults"] if "timeline" in f]
    fig, axes = plt.subplots(len(ran) or 1, 1, figsize=(11, 2.4 * max(1, len(ran))),
                             sharex=True, squeeze=False, constrained_layout=True)  # fmt: skip
    for ax, fault in zip(axes[:, 0], ran, strict=False):
        tl = fault["timeline"]
        xs = list(range(len(tl["ok_per_s"])))
        ax.bar(xs, tl["ok_per_s"], width=1.0, align="edge", color="tab:green", label="ok")
        ax.bar(xs, tl["failed_per_s"], width=1.0, align="edge", bottom=tl["ok_per_s"],
               color="tab:red", label="failed")  # fmt: skip
        if "reads" in fault:  # the reader drill: who answered the reads
            reads = fault["reads"]["timeline"]
            for key, color in (("reader_per_s", "tab:blue"), ("writer_per_s", "tab:orange")):
                ax.step([x + 0.5 for x in range(len(reads[key]))], reads[key], where="mid",
                        color=color, label=f"get/list on the {key.split('_')[0]}")  # fmt: skip
        start, end = fault["fault_window_s"]
        ax.axvspan(start, max(end, start + 0.1), color="black", alpha=0.15)
        ax.axvline(start, color="black", lw=1)
        ax.set_title(f"{fault['name']}: lost {fault['lost_acknowledged_writes']}, "
                     f"duplicates {fault['duplicate_rows']}", fontsize=9)  # fmt: skip
        ax.set_ylabel("requests/s")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("seconds since the burst started (shaded: the fault)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_outputs(result: dict[str, Any], out_dir: Path, *, chart: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "drill-latest.json", out_dir / "drill-latest.md"]
    written[0].write_text(json.dumps(result, indent=2) + "\n")
    written[1].write_text(markdown(result))
    if chart:
        written.append(out_dir / "drill-latest.png")
        write_chart(result, written[-1])
    return written
