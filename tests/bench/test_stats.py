"""Pure parts of the burst lab: percentiles, error kinds, the ramp and pacing, time buckets."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import psycopg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bench.results import rounded
from bench.stats import (
    CAUSE_KIND,
    activation_times,
    bucket_counts,
    classify_cause,
    classify_error,
    live_environments,
    next_request_time,
    percentile,
    ramp_start_environments,
    spread,
)
from orders.errors import DatabaseTimeoutError, DatabaseUnavailableError


def _wrapped(cause: BaseException, outer: type[Exception] = DatabaseUnavailableError) -> Exception:
    """An orders error raised `from` a driver error, as orders.db does."""
    try:
        raise cause
    except BaseException as exc:
        try:
            raise outer("the database is not reachable") from exc
        except Exception as wrapped:
            return wrapped
    raise AssertionError("unreachable")  # pragma: no cover


def _former_percentile(values: Sequence[float], q: float) -> float | None:
    """The hand-written percentile bench.stats had until numpy's took over: the oracle."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


QS = (0, 1, 25, 50, 95, 99, 100)
EDGE_SAMPLES = {
    "empty": [],
    "one value": [4.2],
    "two values": [9.5, 0.5],
    "ties": [2.0, 7.0, 7.0, 7.0, 1.0, 7.0],
    # numpy's lerp keeps ties exact; statistics.quantiles("inclusive") drifts by an ulp here
    "all tied": [0.1] * 7,
}


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("values", EDGE_SAMPLES.values(), ids=EDGE_SAMPLES.keys())
def test_percentile_equals_the_former_interpolation_on_edge_cases(
    values: list[float], q: float
) -> None:
    assert percentile(values, q) == _former_percentile(values, q)


def test_the_reported_figures_are_unchanged_on_latency_samples() -> None:
    # GIVEN latency-like samples (log-normal, ms) of the sizes a scenario or a round yields
    rng = random.Random(16)  # noqa: S311  # a fixed sample, not a secret
    for size in (2, 3, 10, 99, 100, 101, 1_000, 20_000):
        warm = [rng.lognormvariate(1.2, 0.8) for _ in range(size)]
        for q in (50, 95, 99):
            # THEN the figures the report keeps (2 decimals) are the former ones exactly
            assert rounded(percentile(warm, q)) == rounded(_former_percentile(warm, q))


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 100),
)
@example([5, 1, 3, 10, 2, 7, 7], 99)  # 9.819999999999999 here, 9.82 before
def test_percentile_agrees_with_the_former_interpolation(values: list[float], q: float) -> None:
    # numpy evaluates the same line in another order: equal up to float rounding
    expected = _former_percentile(values, q)
    assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-9)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_is_within_the_data_range(values: list[float], q: float) -> None:
    result = percentile(values, q)
    assert result is not None
    assert min(values) <= result <= max(values)


def test_percentile_of_nothing_is_none_and_q_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="out of range"):
        percentile([1.0], 101)


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError(
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many '
            "clients already"
        ),
        psycopg.OperationalError(
            "FATAL:  remaining connection slots are reserved for non-replication superuser "
            "connections"
        ),
        psycopg.errors.TooManyConnections("53300 without the usual text"),
        _wrapped(psycopg.OperationalError("FATAL:  sorry, too many clients already")),
    ],
)
def test_too_many_clients_is_recognised_by_sqlstate_or_text_through_the_cause_chain(
    exc: Exception,
) -> None:
    assert classify_error(exc) == "too_many_clients"


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("connection timeout expired"),
        _wrapped(psycopg.OperationalError("ERROR:  query_wait_timeout")),
        _wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        DatabaseTimeoutError("the database did not answer in time"),
    ],
)
def test_timeouts_are_recognised(exc: Exception) -> None:
    assert classify_error(exc) == "timeout"


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        ValueError("boom"),
        _wrapped(psycopg.errors.UndefinedTable('relation "shop.orders" does not exist')),
    ],
)
def test_anything_else_is_other(exc: Exception) -> None:
    assert classify_error(exc) == "other"


def test_ramp_starts_with_the_seeds_share_of_environments() -> None:
    # 20 of 800 req/s at the start of the seed's burst: 1/40 of the environments.
    assert ramp_start_environments(500, 20, 800) == 12
    assert ramp_start_environments(1000, 20, 800) == 25
    assert ramp_start_environments(10, 20, 800) == 1


def test_activation_times_grow_linearly_to_all_environments_at_the_end_of_the_ramp() -> None:
    times = activation_times(500, 12, 10.0)
    assert len(times) == 500
    assert times == sorted(times)
    assert live_environments(times, 0.1) == 12
    # half-way through the ramp, about half of the joiners are live
    assert 12 + 240 <= live_environments(times, 5.0) <= 12 + 248
    assert live_environments(times, 9.99) == 499
    assert live_environments(times, 10.0) == 500


def test_activation_without_ramp_starts_everyone_at_once() -> None:
    assert activation_times(5, 5, 0.0) == [0.0] * 5


@pytest.mark.parametrize(("start", "ramp"), [(0, 1.0), (6, 1.0), (1, -1.0)])
def test_activation_rejects_impossible_shapes(start: int, ramp: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        activation_times(5, start, ramp)


def test_pacing_keeps_the_interval_and_never_bursts_to_catch_up() -> None:
    assert next_request_time(10.0, 0.5, now=10.1) == 10.5
    # a request that took longer than the interval: the next one starts now, not twice
    assert next_request_time(10.0, 0.5, now=12.0) == 12.0


def test_bucket_counts_put_events_into_their_second() -> None:
    assert bucket_counts([0.0, 0.4, 0.5, 1.9, 5.0, -1.0], 0.5, 2.0) == [2, 1, 0, 1]
    with pytest.raises(ValueError, match="width_s"):
        bucket_counts([], 0, 1)


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (psycopg.errors.ConnectionTimeout("connection timeout expired"), "connect_timeout"),
        (_wrapped(psycopg.OperationalError("connection timeout expired")), "connect_timeout"),
        (_wrapped(psycopg.OperationalError("ERROR:  query_wait_timeout")), "query_wait_timeout"),
        (
            _wrapped(
                psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
                DatabaseTimeoutError,
            ),
            "statement_timeout",
        ),
        (
            _wrapped(psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")),
            "lock_timeout",
        ),
        (
            _wrapped(psycopg.OperationalError("could not receive data: Connection timed out")),
            "tcp_timeout",
        ),
        (
            _wrapped(psycopg.OperationalError("connect failed: Connection refused")),
            "connection_refused",
        ),
        (psycopg.OperationalError("server closed the connection unexpectedly"), "connection_lost"),
        (
            _wrapped(psycopg.OperationalError('password authentication failed for user "a"')),
            "auth_failed",
        ),
        (
            psycopg.OperationalError("ERROR:  pgbouncer cannot connect to server"),
            "pooler_no_server",
        ),
        (ValueError("boom"), "other"),
    ],
)
def test_each_failure_records_which_timeout_or_fault_it_was(exc: Exception, cause: str) -> None:
    assert classify_cause(exc) == cause
    assert classify_error(exc) == CAUSE_KIND[cause]


def test_spread_gives_median_and_range_and_skips_missing_values() -> None:
    assert spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([None]) == {"median": None, "min": None, "max": None, "n": 0}
