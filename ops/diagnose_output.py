"""What `make diagnose` prints: the text report, the JSON document (keys documented in
docs/operate.md) and the PNG plot."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ops.diagnose_report import (
    AT_RISK_PEAK_PERCENT,
    COUPLING_MIN_CORRELATION,
    COUPLING_MIN_POINTS,
    COUPLING_MIN_SLOPE,
    MELTING_PEAK_PERCENT,
    NEAR_LIMIT_PERCENT,
    Recommendation,
    Report,
    Stats,
)
from stacks.aws_facts import LAMBDA_UNRESERVED_MINIMUM
from stacks.budget import PROXY_POOL_FUNCTIONS, ConnectionBudget, no_queue_excess

JSON_SCHEMA_VERSION = 1
THRESHOLDS = {
    "melting_peak_percent": MELTING_PEAK_PERCENT,
    "at_risk_peak_percent": AT_RISK_PEAK_PERCENT,
    "near_limit_percent": NEAR_LIMIT_PERCENT,
    "coupling_min_slope": COUPLING_MIN_SLOPE,
    "coupling_min_correlation": COUPLING_MIN_CORRELATION,
    "coupling_min_points": COUPLING_MIN_POINTS,
}


# --- text -------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


_HEADER = ("", "peak conn", "% of max", "peak conc", "conn/exec", f">={NEAR_LIMIT_PERCENT}% of max")


def _row(s: Stats) -> tuple[str, ...]:
    coverage = s.datapoints * 100 / s.expected_datapoints if s.expected_datapoints else 0.0
    return (
        s.label,
        _num(s.peak_connections),
        _num(s.peak_percent, "{:.0f} %"),
        _num(s.peak_concurrency),
        _num(s.connections_per_execution, "{:.2f}"),
        f"{s.near_limit_minutes:g} min" if s.datapoints else "-",
        f"{coverage:.0f} %",
    )


def _table(report: Report) -> list[str]:
    rows = [(*_HEADER, "data"), *(_row(d) for d in report.days), _row(report.total)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  " + "  ".join(cells))
    return lines


def _who(report: Report) -> str:
    conc = report.concurrency
    who = (
        f"ConcurrentExecutions of {', '.join(conc.functions)}"
        + (" (summed)" if len(conc.functions) > 1 else "")
        if conc.functions
        else "account-wide ConcurrentExecutions"
    )
    return f"{who}; account limit {conc.account_limit}, unreserved {conc.unreserved}"


def _coupling_line(report: Report) -> str:
    fit, conc = report.coupling, report.concurrency
    if fit.slope is None or fit.correlation is None:
        return f"{fit.points} paired datapoints with varying concurrency: too few to fit a line"
    line = (
        f"{fit.slope:+.2f} connections per extra concurrent execution (r = {fit.correlation:.2f}, "
        f"{fit.points} paired datapoints)"
    )
    if not fit.coupled:
        return line + ": connections do not follow concurrency one for one"
    at_limit, at_unreserved = (fit.connections_at(n) for n in (conc.account_limit, conc.unreserved))
    return (
        f"{line}; at the account limit {conc.account_limit}: ~{at_limit:.0f} connections, "
        f"at the {conc.unreserved} unreserved: ~{at_unreserved:.0f}"
    )


def _pool_lines(
    budget: ConnectionBudget,
    idle_percent: int,
    account_limit: int,
    pool_functions: tuple[str, ...] | None = None,
) -> list[str]:
    """The pool, its reserved concurrency checked with the no-queue rule (`pool_functions`: the
    ones on the pool; None: all of them) and the account limit it needs."""
    reserved = dict(budget.reserved_concurrency)
    on_pool = {k: v for k, v in reserved.items() if pool_functions is None or k in pool_functions}
    excess = no_queue_excess(on_pool, budget.proxy_ceiling)
    rule = "holds" if excess == 0 else f"broken by {excess}"
    shares = ", ".join(f"{name} {n}" for name, n in reserved.items())
    needed = budget.account_concurrency_needed
    short = "" if needed <= account_limit else f": {needed - account_limit} short, raise it"
    return [
        f"  proxy MaxConnectionsPercent  {budget.max_connections_percent} % of "
        f"{budget.max_connections} -> pool ceiling {budget.proxy_ceiling}, "
        f"MaxIdleConnectionsPercent {idle_percent} (idle ceiling {budget.idle_ceiling}), "
        f"admin headroom {budget.headroom} (minimum {budget.headroom_min})",
        f"  reserved concurrency         {shares} (sum {sum(on_pool.values())} on the pool <= "
        f"ceiling {budget.proxy_ceiling}: no-queue rule {rule})",
        f"  Lambda account limit needed  >= {needed} (reserved + the "
        f"{LAMBDA_UNRESERVED_MINIMUM.value} Lambda keeps unreserved); the account has "
        f"{account_limit}{short}",
    ]


def _recommendation_lines(report: Report) -> list[str]:
    rec: Recommendation = report.recommendation
    lines = [
        "",
        "recommendation (stacks/budget.py, the code make budget runs) for "
        f"{report.database.identifier} behind RDS Proxy:",
        *_pool_lines(rec.pool, rec.idle_percent, rec.account_limit),
        "",
    ]
    if rec.fragment is None or rec.fragment_budget is None:
        return [*lines, rec.fragment_note]
    idle = int(rec.fragment["proxy"]["max_idle_connections_percent"])
    return [
        *lines,
        f"cdk.json fragment for db.{report.database.instance_class} ({rec.fragment_note}); "
        "merge it into context.environments.<env>, then make budget ENV=<env> shows:",
        *_pool_lines(rec.fragment_budget, idle, rec.account_limit, PROXY_POOL_FUNCTIONS),
        json.dumps(rec.fragment, indent=2),
    ]


def render_text(report: Report) -> str:
    db, win, verdict = report.database, report.window, report.verdict
    period = f"{win.period_s // 60}-minute" if win.period_s < 3600 else "1-hour"
    lines = [
        f"database     {db.identifier}: {db.engine} {db.engine_version}, db.{db.instance_class}; "
        f"max_connections {db.max_connections} ({db.max_connections_detail})",
        f"window       {win.start:%Y-%m-%d %H:%M} .. {win.end:%Y-%m-%d %H:%M} UTC: {win.days} "
        f"day(s) of {period} Maximum",
        f"concurrency  {_who(report)}",
        "",
        *_table(report),
        "",
        f"coupling     {_coupling_line(report)}",
        f"verdict      {verdict.level.upper()}: {verdict.reason}",
        *(f"note         {note}" for note in report.notes),
        *_recommendation_lines(report),
    ]
    return "\n".join(lines)


# --- JSON -------------------------------------------------------------------------------------


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _stats_json(s: Stats) -> dict[str, Any]:
    return {
        "peak_connections": s.peak_connections,
        "peak_connections_at": _iso(s.peak_connections_at),
        "peak_concurrency": s.peak_concurrency,
        "connections_per_execution": _round(s.connections_per_execution, 3),
        "peak_percent_of_max_connections": _round(s.peak_percent, 2),
        "near_limit_datapoints": s.near_limit_datapoints,
        "near_limit_minutes": s.near_limit_minutes,
        "datapoints": s.datapoints,
        "expected_datapoints": s.expected_datapoints,
    }


def _budget_json(budget: ConnectionBudget, idle_percent: int) -> dict[str, Any]:
    return {
        "max_connections": budget.max_connections,
        "max_connections_percent": budget.max_connections_percent,
        "max_idle_connections_percent": idle_percent,
        "proxy_ceiling": budget.proxy_ceiling,
        "idle_ceiling": budget.idle_ceiling,
        "headroom": budget.headroom,
        "headroom_min": budget.headroom_min,
        "reserved_concurrency": dict(budget.reserved_concurrency),
        "account_limit_needed": budget.account_concurrency_needed,
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report as one document; keys are stable (JSON_SCHEMA_VERSION changes if not)."""
    db, conc, win, fit, rec = (
        report.database,
        report.concurrency,
        report.window,
        report.coupling,
        report.recommendation,
    )
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "database": {
            "identifier": db.identifier,
            "engine": db.engine,
            "engine_version": db.engine_version,
            "instance_class": f"db.{db.instance_class}",
            "parameter_group": db.parameter_group,
            "max_connections": db.max_connections,
            "max_connections_source": db.max_connections_source,
        },
        "window": {
            "start": _iso(win.start),
            "end": _iso(win.end),
            "days": win.days,
            "period_s": win.period_s,
        },
        "concurrency": {
            "scope": "functions" if conc.functions else "account",
            "functions": list(conc.functions),
            "account_limit": conc.account_limit,
            "unreserved": conc.unreserved,
        },
        "summary": _stats_json(report.total),
        "days": [{"date": d.label, **_stats_json(d)} for d in report.days],
        "coupling": {
            "points": fit.points,
            "slope": _round(fit.slope, 4),
            "intercept": _round(fit.intercept, 4),
            "correlation": _round(fit.correlation, 4),
            "coupled": fit.coupled,
        },
        "verdict": {
            "level": report.verdict.level,
            "reason": report.verdict.reason,
            "thresholds": THRESHOLDS,
        },
        "recommendation": {
            "proxy": _budget_json(rec.pool, rec.idle_percent),
            "account_limit": rec.account_limit,
            "cdk_json": rec.fragment,
            "cdk_json_note": rec.fragment_note,
        },
        "notes": list(report.notes),
    }


# --- plot -------------------------------------------------------------------------------------


def _grid(report: Report) -> list[datetime]:
    win = report.window
    step = timedelta(seconds=win.period_s)
    count = int((win.end - win.start) / step)
    return [win.start + i * step for i in range(count)]


def write_plot(report: Report, path: Path, *, note: str = "") -> None:
    """Connections and concurrency over the window (gaps stay gaps), with max_connections and
    the proposed pool ceiling as lines."""
    import matplotlib  # noqa: PLC0415  # only when a plot is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    db, rec, obs = report.database, report.recommendation, report.observed
    grid = _grid(report)
    xs = np.array([t.replace(tzinfo=None) for t in grid], dtype="datetime64[s]")  # UTC
    nan = float("nan")
    fig, ax = plt.subplots(figsize=(12, 5), constrained_layout=True)
    for series, label, color in (  # connections last: drawn on top
        (obs.concurrency, "Lambda ConcurrentExecutions (Maximum)", "tab:orange"),
        (obs.connections, "DatabaseConnections (Maximum)", "tab:blue"),
    ):
        ax.plot(xs, [series.get(t, nan) for t in grid], lw=0.7, color=color, label=label)
    limit = f"max_connections {db.max_connections}"
    ax.axhline(db.max_connections, color="red", ls="--", lw=1, label=limit)
    pool = rec.pool
    label = f"proposed proxy pool {pool.proxy_ceiling} ({pool.max_connections_percent} %)"
    ax.axhline(pool.proxy_ceiling, color="green", ls=":", lw=1.2, label=label)
    top = max([db.max_connections, *obs.connections.values(), *obs.concurrency.values()])
    ax.set_ylim(0, top * 1.08)
    ax.set_ylabel("connections / concurrent executions")
    ax.set_xlabel("UTC")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    title = (
        f"{db.identifier} (db.{db.instance_class}): {report.verdict.level.upper()}, "
        f"{report.window.days} day(s), {report.window.period_s // 60}-minute maxima"
    )
    ax.set_title(f"{title}\n{note}" if note else title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
