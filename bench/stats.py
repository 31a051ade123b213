"""Pure helpers: percentiles, error classification, the ramp schedule and time buckets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ERROR_KINDS = ("too_many_clients", "timeout", "other")


@dataclass(frozen=True)
class Cause:
    """One way a request fails, recognised by SQLSTATE, exception type or message."""

    name: str
    kind: str  # one of ERROR_KINDS
    states: frozenset[str] = frozenset()
    types: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()

    def matches(self, item: BaseException) -> bool:
        text = str(item).lower()
        return (
            getattr(item, "sqlstate", None) in self.states
            or type(item).__name__ in self.types
            or any(t in text for t in self.texts)
        )


# Checked in this order against every exception of the cause chain; the first match wins.
# SQLSTATE 53300 (too_many_connections) is what PostgreSQL sends both past
# max_connections - superuser_reserved_connections ("remaining connection slots are reserved")
# and past max_connections ("sorry, too many clients already"); connect-time failures often
# reach the client without a parsed SQLSTATE, so the messages are matched as well.
CAUSES: tuple[Cause, ...] = (
    Cause(
        "too_many_clients",
        "too_many_clients",
        frozenset({"53300"}),
        texts=(
            "too many clients",
            "remaining connection slots are reserved",
            "no more connections allowed",  # PgBouncer past max_client_conn
        ),
    ),
    # PgBouncer: no server connection within the borrow timeout (the proxy's
    # ConnectionBorrowTimeout).
    Cause("query_wait_timeout", "timeout", texts=("query_wait_timeout",)),
    # 57014 query_canceled: the role's statement_timeout.
    Cause(
        "statement_timeout",
        "timeout",
        frozenset({"57014"}),
        ("QueryCanceled",),
        ("statement timeout",),
    ),
    Cause(
        "lock_timeout", "timeout", frozenset({"55P03"}), ("LockNotAvailable",), ("lock timeout",)
    ),
    # The driver's connect timeout (libpq connect_timeout, the config's 2 s).
    Cause("connect_timeout", "timeout", types=("ConnectionTimeout",), texts=("timeout expired",)),
    # The kernel gave up on a silent peer: tcp_user_timeout or keepalives (ETIMEDOUT).
    Cause("tcp_timeout", "timeout", types=("TimeoutError",), texts=("timed out",)),
    # Raised by orders.db for a statement or lock timeout whose cause was not kept.
    Cause("statement_timeout", "timeout", types=("DatabaseTimeoutError",)),
    Cause(
        "auth_failed",
        "other",
        frozenset({"28P01", "28000"}),
        texts=("password authentication failed", "authentication failed"),
    ),
    # PgBouncer up but without a usable server: PostgreSQL down or refusing its logins.
    Cause(
        "pooler_no_server",
        "other",
        texts=(
            "cannot connect to server",
            "server login has been failing",
            "server conn crashed",
            "server_login_retry",
        ),
    ),
    Cause("connection_refused", "other", texts=("connection refused",)),
    Cause(
        "connection_lost",
        "other",
        frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "08P01"}),
        texts=(
            "server closed the connection",
            "terminating connection",
            "connection was lost",
            "ssl syscall",
            "eof detected",
            "consuming input failed",
            "connection is lost",
            "the connection is closed",
        ),
    ),
    Cause("conflict", "other", types=("ConflictError",)),
)
CAUSE_NAMES: tuple[str, ...] = (*dict.fromkeys(c.name for c in CAUSES), "other")
CAUSE_KIND: dict[str, str] = {c.name: c.kind for c in CAUSES} | {"other": "other"}


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_cause(exc: BaseException) -> str:
    """Which of CAUSE_NAMES made a request fail: which timeout fired, lost, refused, ..."""
    chain = list(_chain(exc))
    for cause in CAUSES:
        if any(cause.matches(item) for item in chain):
            return cause.name
    return "other"


def classify_error(exc: BaseException) -> str:
    """Map an exception (and its cause chain) to one of ERROR_KINDS."""
    return CAUSE_KIND[classify_cause(exc)]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between the closest ranks; None if empty.

    numpy's ``linear`` method (Hyndman and Fan's type 7, also ``statistics.quantiles``'
    ``inclusive``): rank ``(n - 1) * q / 100`` interpolated between its two neighbours.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q={q} is out of range (0..100)")
    if not values:
        return None
    return float(np.percentile(values, q, method="linear"))


def ramp_start_environments(concurrency: int, start_rps: float, hold_rps: float) -> int:
    """How many environments are live at t=0: the seed's 20 of 800 req/s, scaled to N."""
    if concurrency < 1:
        raise ValueError(f"concurrency={concurrency} must be >= 1")
    return max(1, min(concurrency, round(concurrency * start_rps / hold_rps)))


def activation_times(concurrency: int, start: int, ramp_s: float) -> list[float]:
    """When each environment receives its first request (seconds after the burst starts).

    ``start`` environments are live at once (spread over the first 0.1 s so their cold starts do
    not collide on one tick); the rest join at an even pace until all ``concurrency`` are live at
    ``ramp_s``: the live count grows linearly from ``start`` to ``concurrency``.
    """
    if not 1 <= start <= concurrency:
        raise ValueError(f"start={start} must be between 1 and concurrency={concurrency}")
    if ramp_s < 0:
        raise ValueError(f"ramp_s={ramp_s} must be >= 0")
    spread = min(0.1, ramp_s)
    times = [spread * i / start for i in range(start)]
    joining = concurrency - start
    times += [spread + (ramp_s - spread) * (i + 1) / joining for i in range(joining)]
    return times


def live_environments(times: Sequence[float], t: float) -> int:
    """How many environments have started by time t."""
    return sum(1 for at in times if at <= t)


def next_request_time(scheduled: float, interval_s: float, now: float) -> float:
    """An environment paces itself at one request per interval and never bursts to catch up."""
    return max(scheduled + interval_s, now)


def bucket_counts(times: Iterable[float], width_s: float, end_s: float) -> list[int]:
    """Counts of events per bucket of ``width_s`` seconds from 0 to ``end_s``."""
    if width_s <= 0:
        raise ValueError(f"width_s={width_s} must be > 0")
    buckets = [0] * max(1, math.ceil(end_s / width_s))
    for t in times:
        if 0 <= t < end_s:
            buckets[min(len(buckets) - 1, int(t / width_s))] += 1
    return buckets


def spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Median, min and max of repeated measurements (None values, e.g. no successes, skipped)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(present), 2),
        "min": round(min(present), 2),
        "max": round(max(present), 2),
        "n": len(present),
    }
