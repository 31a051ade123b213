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
    lines += ["", *verdicts(result)]
    return "\n".join(lines) + "\n"


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
        start, end = fault["fault_window_s"]
        ax.axvspan(start, max(end, start + 0.1), color="black", alpha=0.15)
        ax.axvline(start, color="black", lw=1)
        ax.set_title(f"{fault['name']}: lost {fault['lost_acknowledged_writes']}, "
                     f"duplicates {fault['duplicate_rows']}", fontsize=9)  # fmt: skip
        ax.set_ylabel("requests/s")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper right")
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
