"""Pure helpers: percentiles, error classification, the ramp schedule and time buckets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

ERROR_KINDS = ("too_many_clients", "timeout", "other")

# SQLSTATE 53300 (too_many_connections) is what PostgreSQL sends both past
# max_connections - superuser_reserved_connections ("remaining connection slots are reserved")
# and past max_connections ("sorry, too many clients already"). Connect-time failures often reach
# the client without a parsed SQLSTATE, so the messages are matched as well.
_TOO_MANY_STATES = frozenset({"53300"})
_TOO_MANY_TEXT = (
    "too many clients",
    "remaining connection slots are reserved",
    "no more connections allowed",  # PgBouncer past max_client_conn
)
# 57014 query_canceled (statement_timeout), 55P03 lock_not_available (lock_timeout).
_TIMEOUT_STATES = frozenset({"57014", "55P03"})
_TIMEOUT_TEXT = (
    "timeout expired",  # libpq connect_timeout
    "query_wait_timeout",  # PgBouncer: no server connection within the borrow timeout
    "statement timeout",
    "lock timeout",
    "timed out",
)
_TIMEOUT_TYPES = ("DatabaseTimeoutError", "QueryCanceled", "LockNotAvailable", "ConnectionTimeout")


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_error(exc: BaseException) -> str:
    """Map an exception (and its cause chain) to one of ERROR_KINDS."""
    chain = list(_chain(exc))
    for item in chain:
        state = getattr(item, "sqlstate", None)
        if state in _TOO_MANY_STATES or any(t in str(item).lower() for t in _TOO_MANY_TEXT):
            return "too_many_clients"
    for item in chain:
        state = getattr(item, "sqlstate", None)
        if (
            state in _TIMEOUT_STATES
            or isinstance(item, TimeoutError)
            or type(item).__name__ in _TIMEOUT_TYPES
            or any(t in str(item).lower() for t in _TIMEOUT_TEXT)
        ):
            return "timeout"
    return "other"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation (numpy's default); None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"q={q} is out of range (0..100)")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


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
