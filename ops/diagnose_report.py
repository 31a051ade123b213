"""`make diagnose` arithmetic: peaks per day and window, the verdict, the proxy budget from
stacks/budget.py and the cdk.json fragment. Pure: the AWS reads live in ops/diagnose.py."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from ops.aws import OpsError
from stacks.aws_facts import lambda_unreserved_floor
from stacks.budget import (
    RDS_POSTGRES_MAX_CONNECTIONS,
    BudgetError,
    ConnectionBudget,
    default_max_connections,
    max_proxy_percent,
    no_queue_split,
    pool_budget,
    proxy_ceiling,
)
from stacks.config import DatabaseConfig, FunctionsConfig
from stacks.config_fields import accepts, schema_fields

# --- The verdict: thresholds in percent of max_connections and the coupling test --------------
# melting: peak connections reached this share of max_connections (RDS refuses the rest with
# "too many clients"; the last few are kept for superusers).
MELTING_PEAK_PERCENT = 90
# at risk: peak connections above this share: one burst 1.5x the biggest seen reaches the limit.
AT_RISK_PEAK_PERCENT = 60
# "came within 10 % of max_connections": datapoints at or above this share are counted.
NEAR_LIMIT_PERCENT = 90
# Connections follow concurrency ("every extra execution costs a connection") when a straight
# line fitted through the paired 1-minute maxima rises at least this much per execution, with at
# least this Pearson correlation, over at least this many paired datapoints.
COUPLING_MIN_SLOPE = 0.9
COUPLING_MIN_CORRELATION = 0.8
COUPLING_MIN_POINTS = 30

# --- The recommendation's own choices (the arithmetic is stacks/budget.py's) ------------------
# Admin headroom outside the pool: 10 % of max_connections, at least 20 (psql sessions,
# migrations, rotation, monitoring agents). --admin-headroom overrides it.
ADMIN_HEADROOM_FLOOR = 20
ADMIN_HEADROOM_PERCENT = 10
# MaxIdleConnectionsPercent as a share of MaxConnectionsPercent (RDS Proxy's defaults: 50/100).
IDLE_SHARE_OF_POOL_PERCENT = 50
# How the fragment shares the pool between the reference app's API and direct-invoke functions
# (the shipped profiles' 4:1, dev 20/5 and prod 200/50).
FRAGMENT_POOL_WEIGHTS = {"api": 4.0, "direct": 1.0}

MELTING, AT_RISK, FINE = "melting", "at risk", "fine"
ALL_FUNCTIONS = "all functions on the pool"


@dataclass(frozen=True)
class Database:
    """The instance as DescribeDBInstances/DescribeDBParameters showed it."""

    identifier: str
    engine: str
    engine_version: str
    instance_class: str  # without "db."
    parameter_group: str | None
    max_connections: int
    # parameter-group | measured | documented | estimate | override
    max_connections_source: str
    max_connections_detail: str


@dataclass(frozen=True)
class Concurrency:
    """Whose ConcurrentExecutions were read (no functions: the account's) and the account's
    limits (GetAccountSettings)."""

    functions: tuple[str, ...]
    account_limit: int
    unreserved: int


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    period_s: int

    @property
    def days(self) -> int:
        return round((self.end - self.start) / timedelta(days=1))


@dataclass(frozen=True)
class Observed:
    """Maxima per period: connections, concurrency (summed over the functions) and each
    function's own series (empty when account-wide)."""

    connections: Mapping[datetime, float]
    concurrency: Mapping[datetime, float]
    per_function: Mapping[str, Mapping[datetime, float]]


@dataclass(frozen=True)
class Stats:
    """Peaks of one day (label: the date) or of the window (label "window")."""

    label: str
    peak_connections: float | None
    peak_connections_at: datetime | None
    peak_concurrency: float | None
    connections_per_execution: float | None
    peak_percent: float | None
    near_limit_datapoints: int
    near_limit_minutes: float
    datapoints: int
    expected_datapoints: int


@dataclass(frozen=True)
class Coupling:
    """Straight line connections = intercept + slope x concurrency through the paired maxima."""

    points: int
    slope: float | None
    intercept: float | None
    correlation: float | None

    @property
    def coupled(self) -> bool:
        return (
            self.points >= COUPLING_MIN_POINTS
            and self.slope is not None
            and self.slope >= COUPLING_MIN_SLOPE
            and (self.correlation or 0.0) >= COUPLING_MIN_CORRELATION
        )

    def connections_at(self, concurrency: int) -> float | None:
        if self.slope is None or self.intercept is None:
            return None
        return self.intercept + self.slope * concurrency


@dataclass(frozen=True)
class Verdict:
    level: str  # MELTING | AT_RISK | FINE
    reason: str


@dataclass(frozen=True)
class Recommendation:
    """The proxy pool for this database and a cdk.json fragment for its class, both from
    stacks.budget.pool_budget (what make budget prints)."""

    pool: ConnectionBudget
    idle_percent: int
    account_limit: int
    fragment: dict[str, dict[str, Any]] | None
    fragment_budget: ConnectionBudget | None
    fragment_note: str


@dataclass(frozen=True)
class Report:
    database: Database
    concurrency: Concurrency
    window: Window
    observed: Observed
    days: list[Stats]
    total: Stats
    coupling: Coupling
    verdict: Verdict
    recommendation: Recommendation
    notes: list[str]


# --- peaks ------------------------------------------------------------------------------------


def _peak(series: Mapping[datetime, float]) -> tuple[datetime, float] | None:
    if not series:
        return None
    when = max(series, key=lambda t: (series[t], -t.timestamp()))
    return when, series[when]


def stats(
    label: str,
    observed: Observed,
    *,
    max_connections: int,
    period_s: int,
    expected: int,
) -> Stats:
    """Peaks of `observed` (already cut to the day or window)."""
    conn, conc = _peak(observed.connections), _peak(observed.concurrency)
    near = sum(
        v * 100 >= NEAR_LIMIT_PERCENT * max_connections for v in observed.connections.values()
    )
    ratio = conn[1] / conc[1] if conn and conc and conc[1] > 0 else None
    return Stats(
        label=label,
        peak_connections=conn[1] if conn else None,
        peak_connections_at=conn[0] if conn else None,
        peak_concurrency=conc[1] if conc else None,
        connections_per_execution=ratio,
        peak_percent=conn[1] * 100 / max_connections if conn else None,
        near_limit_datapoints=near,
        near_limit_minutes=near * period_s / 60,
        datapoints=len(observed.connections),
        expected_datapoints=expected,
    )


def _between(
    series: Mapping[datetime, float], start: datetime, end: datetime
) -> dict[datetime, float]:
    return {t: v for t, v in series.items() if start <= t < end}


def daily(window: Window, observed: Observed, max_connections: int) -> list[Stats]:
    """One Stats per UTC day the window touches; a day without datapoints still has its row."""
    rows = []
    day: date = window.start.date()
    while (start := datetime.combine(day, time(), window.start.tzinfo)) < window.end:
        end = start + timedelta(days=1)
        lo, hi = max(start, window.start), min(end, window.end)
        part = Observed(
            _between(observed.connections, lo, hi), _between(observed.concurrency, lo, hi), {}
        )
        expected = int((hi - lo).total_seconds()) // window.period_s
        rows.append(
            stats(
                day.isoformat(),
                part,
                max_connections=max_connections,
                period_s=window.period_s,
                expected=expected,
            )
        )
        day += timedelta(days=1)
    return rows


def coupling(observed: Observed) -> Coupling:
    """Fit connections against concurrency over the periods where both have a datapoint."""
    paired = sorted(set(observed.connections) & set(observed.concurrency))
    xs = [observed.concurrency[t] for t in paired]
    ys = [observed.connections[t] for t in paired]
    if len(paired) < 2 or len(set(xs)) < 2:
        return Coupling(len(paired), None, None, None)
    slope, intercept = statistics.linear_regression(xs, ys)
    try:
        correlation = statistics.correlation(xs, ys)
    except statistics.StatisticsError:  # connections constant: they do not follow concurrency
        correlation = 0.0
    return Coupling(len(paired), slope, intercept, correlation)


# --- verdict ----------------------------------------------------------------------------------


def _peak_phrase(total: Stats, max_connections: int) -> str:
    at = f" at {total.peak_connections_at:%Y-%m-%d %H:%M} UTC" if total.peak_connections_at else ""
    return (
        f"peak {total.peak_connections:g} connections = {total.peak_percent:.0f} % of "
        f"max_connections {max_connections}{at}"
    )


def _coupling_phrase(fit: Coupling) -> str:
    return (
        f"each extra concurrent execution costs {fit.slope:.2f} connections "
        f"(r = {fit.correlation:.2f})"
    )


def verdict(total: Stats, fit: Coupling, conc: Concurrency, max_connections: int) -> Verdict:
    """melting / at risk / fine with the one-line reason (thresholds: the constants above)."""
    percent = total.peak_percent or 0.0
    if percent >= MELTING_PEAK_PERCENT:
        reason = f"{_peak_phrase(total, max_connections)} (melting from {MELTING_PEAK_PERCENT} %)"
        return Verdict(MELTING, reason)
    at_limit = fit.connections_at(conc.account_limit) if fit.coupled else None
    if at_limit is not None and at_limit > max_connections:
        reason = (
            f"{_coupling_phrase(fit)}: the account limit of {conc.account_limit} concurrent "
            f"executions would need ~{at_limit:.0f} connections > max_connections {max_connections}"
        )
        return Verdict(MELTING, reason)
    if percent > AT_RISK_PEAK_PERCENT:
        reason = f"{_peak_phrase(total, max_connections)} (at risk above {AT_RISK_PEAK_PERCENT} %)"
        return Verdict(AT_RISK, reason)
    at_unreserved = fit.connections_at(conc.unreserved) if fit.coupled else None
    if at_unreserved is not None and at_unreserved * 100 > AT_RISK_PEAK_PERCENT * max_connections:
        reason = (
            f"{_coupling_phrase(fit)}: the {conc.unreserved} unreserved executions would need "
            f"~{at_unreserved:.0f} connections, above {AT_RISK_PEAK_PERCENT} % of "
            f"max_connections {max_connections}"
        )
        return Verdict(AT_RISK, reason)
    follows = (
        f"{_coupling_phrase(fit)}, but the {conc.unreserved} unreserved executions would need "
        f"only ~{at_unreserved:.0f} connections"
        if at_unreserved is not None
        else "connections do not follow concurrency one for one"
    )
    return Verdict(FINE, f"{_peak_phrase(total, max_connections)}; {follows}")


# --- recommendation ---------------------------------------------------------------------------


def _schema_range(section: type, key: str) -> tuple[int, int]:
    """The (low, high) range stacks/config.py allows for a key (so the fragment loads)."""
    limits = accepts(schema_fields(section)[key]).range
    assert limits is not None, f"{section.__name__}.{key} has no range"  # noqa: S101
    low, high = limits
    return int(low), int(high)


def _clamp(value: int, section: type, key: str) -> int:
    low, high = _schema_range(section, key)
    return min(max(value, low), high)


def recommended_headroom(max_connections: int) -> int:
    """Admin connections to keep outside the pool (ADMIN_HEADROOM_*), within the schema range."""
    wanted = max(ADMIN_HEADROOM_FLOOR, math.ceil(max_connections * ADMIN_HEADROOM_PERCENT / 100))
    return _clamp(wanted, DatabaseConfig, "admin_headroom_min_connections")


def propose(
    *,
    instance_class: str,
    memory_gib: int | None,
    max_connections: int,
    source: str,
    headroom_min: int,
    weights: Mapping[str, float],
    account_limit: int,
) -> tuple[ConnectionBudget, int]:
    """The largest pool that leaves `headroom_min` (stacks.budget.max_proxy_percent), and
    reserved concurrency that fills it without queueing (no_queue_split), at most what the
    account can reserve. Returns the budget and its MaxIdleConnectionsPercent."""
    percent = max_proxy_percent(max_connections, headroom_min)
    if percent == 0:
        raise OpsError(
            f"max_connections {max_connections} leaves no proxy pool after {headroom_min} admin "
            f"connections: pass --admin-headroom below {max_connections}"
        )
    reservable = account_limit - lambda_unreserved_floor(account_limit)
    total = min(proxy_ceiling(max_connections, percent), reservable)
    idle_percent = percent * IDLE_SHARE_OF_POOL_PERCENT // 100
    budget = pool_budget(
        instance_class=instance_class,
        memory_gib=memory_gib,
        max_connections=max_connections,
        max_connections_source=source,
        max_connections_percent=percent,
        max_idle_connections_percent=idle_percent,
        headroom_min=headroom_min,
        reserved_concurrency=no_queue_split(total, weights),
    )
    return budget, idle_percent


def _alarm_percent(pool_percent: int) -> int:
    """monitoring.db_connections_alarm_percent: halfway between the pool and 100 % (the schema
    wants it above the pool)."""
    return min(100, pool_percent + math.ceil((100 - pool_percent) / 2))


def fragment(budget: ConnectionBudget, idle_percent: int) -> dict[str, dict[str, Any]]:
    """The cdk.json keys that set this budget (merge them into context.environments.<env>)."""
    reserved = budget.reserved_concurrency
    return {
        "database": {
            "instance_class": budget.instance_class,
            "admin_headroom_min_connections": budget.headroom_min,
        },
        "proxy": {
            "max_connections_percent": budget.max_connections_percent,
            "max_idle_connections_percent": idle_percent,
        },
        "functions": {f"{name}_reserved_concurrency": n for name, n in reserved.items()},
        "monitoring": {
            "db_connections_alarm_percent": _alarm_percent(budget.max_connections_percent)
        },
    }


def fragment_budget(
    instance_class: str, headroom_min: int | None, account_limit: int
) -> tuple[ConnectionBudget, int] | None:
    """What the reference app would deploy on this class (RDS for PostgreSQL, the default
    max_connections): None when stacks/budget.py does not know the class."""
    try:
        gib, max_conn, source = default_max_connections(instance_class)
    except BudgetError:
        return None
    headroom = (
        recommended_headroom(max_conn)
        if headroom_min is None
        else _clamp(headroom_min, DatabaseConfig, "admin_headroom_min_connections")
    )
    budget, idle = propose(
        instance_class=instance_class,
        memory_gib=gib,
        max_connections=max_conn,
        source=source,
        headroom_min=headroom,
        weights=FRAGMENT_POOL_WEIGHTS,
        account_limit=account_limit,
    )
    # Within what the schema accepts, so the fragment loads (the account line then shows a
    # limit too small for it rather than a fragment that does not load).
    capped = {
        name: _clamp(n, FunctionsConfig, f"{name}_reserved_concurrency")
        for name, n in budget.reserved_concurrency.items()
    }
    capped["migration"] = _schema_range(FunctionsConfig, "migration_reserved_concurrency")[0]
    return dataclasses.replace(budget, reserved_concurrency=capped), idle


def recommend(
    db: Database, conc: Concurrency, observed: Observed, headroom_min: int | None
) -> Recommendation:
    """Pool and reserved concurrency for this database (each named function's share follows
    its observed peak), and the fragment for its class."""
    peaks = {
        name: max(series.values(), default=0.0) for name, series in observed.per_function.items()
    }
    weights = {name: max(peak, 1.0) for name, peak in peaks.items()} or {ALL_FUNCTIONS: 1.0}
    known = RDS_POSTGRES_MAX_CONNECTIONS.get(db.instance_class)
    pool, idle = propose(
        instance_class=db.instance_class,
        memory_gib=known.memory_gib if known else None,
        max_connections=db.max_connections,
        source=db.max_connections_source,
        headroom_min=headroom_min or recommended_headroom(db.max_connections),
        weights=weights,
        account_limit=conc.account_limit,
    )
    proposed = fragment_budget(db.instance_class, headroom_min, conc.account_limit)
    if proposed is None:
        note = (
            f"no cdk.json fragment: db.{db.instance_class} is not in stacks/budget.py's "
            "max_connections table, so the reference app cannot deploy it as is"
        )
        return Recommendation(pool, idle, conc.account_limit, None, None, note)
    fb, fb_idle = proposed
    note = (
        f"the reference app deploys RDS for PostgreSQL db.{db.instance_class} with its default "
        f"max_connections {fb.max_connections} ({fb.max_connections_source})"
    )
    return Recommendation(pool, idle, conc.account_limit, fragment(fb, fb_idle), fb, note)


# --- the report -------------------------------------------------------------------------------


def build_report(
    db: Database,
    conc: Concurrency,
    window: Window,
    observed: Observed,
    *,
    headroom_min: int | None,
    notes: Sequence[str] = (),
) -> Report:
    total_expected = int((window.end - window.start).total_seconds()) // window.period_s
    total = stats(
        "window",
        observed,
        max_connections=db.max_connections,
        period_s=window.period_s,
        expected=total_expected,
    )
    fit = coupling(observed)
    return Report(
        database=db,
        concurrency=conc,
        window=window,
        observed=observed,
        days=daily(window, observed, db.max_connections),
        total=total,
        coupling=fit,
        verdict=verdict(total, fit, conc, db.max_connections),
        recommendation=recommend(db, conc, observed, headroom_min),
        notes=list(notes),
    )
