"""The lab's reads: orders.reads per environment thread, who answered, the read-split verdict."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from bench import reader as R
from bench.repeat import read_split_verdict
from orders import reads, runtime, service
from orders.errors import DatabaseUnavailableError, NotFoundError
from tests.lambdas.fakes import FakeConnectionFactory, FakeTokenProvider, db_settings

ORDER_ID = uuid.uuid4()


def observed(**overrides: Any) -> R.ObservedDatabase:
    settings = db_settings(**overrides)
    return R.ObservedDatabase(settings, FakeTokenProvider(), FakeConnectionFactory())


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded so monkeypatch puts the runtime's lookups back after the test.
    monkeypatch.setattr(reads, "get_database", reads.get_database)
    monkeypatch.setattr(reads, "get_read_database", reads.get_read_database)
    R.install()
    R.install()  # idempotent


def test_each_thread_reads_through_its_own_environment(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two environments in two threads, each with its own writer and reader
    asked: dict[str, list[Any]] = {}

    def get_order(db: Any, order_id: uuid.UUID) -> str:
        asked.setdefault(threading.current_thread().name, []).append(db)
        return "order"

    monkeypatch.setattr(service, "get_order", get_order)
    envs = {name: (observed(), observed(DB_HOST="reader.example")) for name in ("a", "b")}

    def environment(name: str) -> None:
        R.bind(*envs[name])
        reads.get_order(ORDER_ID)

    threads = [threading.Thread(target=environment, args=(n,), name=n) for n in envs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN orders.reads asked each thread's own reader, never a process-wide one
    assert asked == {"a": [envs["a"][1]], "b": [envs["b"][1]]}


def test_a_thread_without_an_environment_is_refused(installed: None) -> None:
    outcome: list[BaseException] = []

    def unbound() -> None:
        try:
            reads.get_order(ORDER_ID)
        except RuntimeError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=unbound)
    thread.start()
    thread.join()
    assert len(outcome) == 1
    assert "bind" in str(outcome[0])


def test_install_refuses_when_orders_reads_stops_using_the_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A lab that patched names the runtime no longer used would measure one shared Database.
    monkeypatch.setattr(reads, "get_database", lambda: runtime.get_database())  # noqa: PLW0108
    with pytest.raises(RuntimeError, match="no longer reads its Databases"):
        R.install()


def test_open_databases_follows_the_runtime_the_reader_only_with_a_read_host() -> None:
    writer, reader = R.open_databases(db_settings(), FakeTokenProvider())
    assert reader is writer
    writer, reader = R.open_databases(db_settings(DB_READ_HOST="127.0.0.2"), FakeTokenProvider())
    assert reader is not writer
    assert (reader.settings.host, reader.settings.sslmode) == ("127.0.0.2", "verify-ca")
    assert reader.settings.port == writer.settings.port


def test_observed_database_records_each_run() -> None:
    database = observed()
    assert database.run(lambda conn: 1, retry_safe=True) == 1

    def fails(conn: Any) -> None:
        raise psycopg.errors.UndefinedTable("no table")

    with pytest.raises(Exception, match="internal error"):
        database.run(fails, retry_safe=True)
    assert database.outcomes == ["ok", "DatabaseError"]


@pytest.mark.parametrize(
    ("reader_outcomes", "writer_outcomes", "expected"),
    [
        (["ok"], [], ("reader", "")),
        (["DatabaseUnavailableError"], ["ok"], ("writer", "reader_unavailable")),
        (["ok"], ["ok"], ("writer", "reader_miss")),  # the reader ran and did not have it
        (["DatabaseUnavailableError"], ["DatabaseError"], ("none", "reader_unavailable")),
        (["DatabaseError"], [], ("none", "")),  # no fallback on a failed statement
    ],
)
def test_served_by_tells_which_endpoint_answered_and_why(
    reader_outcomes: list[str], writer_outcomes: list[str], expected: tuple[str, str]
) -> None:
    writer, reader = observed(), observed(DB_HOST="reader.example")
    reader.outcomes, writer.outcomes = reader_outcomes, writer_outcomes
    assert R.served_by(writer, reader) == expected
    R.clear(writer, reader)
    assert (writer.outcomes, reader.outcomes) == ([], [])


def test_served_by_without_a_reader_is_the_writer() -> None:
    writer = observed()
    writer.outcomes = ["ok"]
    assert R.served_by(writer, writer) == ("writer", "")


def test_served_by_sees_the_real_fallbacks_of_orders_reads(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an order only on the writer, then a reader that is down
    writer, reader = observed(), observed(DB_HOST="reader.example")
    R.bind(writer, reader)
    state = {"down": False}

    def get_order(db: R.ObservedDatabase, order_id: uuid.UUID) -> str:
        if db is reader and state["down"]:
            raise DatabaseUnavailableError("down")
        row = db.run(lambda conn: None if db is reader else "row", retry_safe=True)
        if row is None:
            raise NotFoundError("not yet")
        return row

    monkeypatch.setattr(service, "get_order", get_order)
    counts: dict[str, int] = {}
    for down in (False, True):
        state["down"] = down
        R.clear(writer, reader)
        assert reads.get_order(ORDER_ID) == "row"
        R.count_served(counts, *R.served_by(writer, reader))
    # THEN the miss (replica lag) and the outage are told apart, both answered by the writer
    assert counts == {"writer": 2, "reader_miss": 1, "reader_unavailable": 1}


@pytest.mark.parametrize(
    ("pairs", "errors", "verdict"),
    [
        ([[9, 3], [8, 4]], (0, 0), "PASS"),
        ([[9, 3], [4, 5]], (0, 0), "UNRESOLVED"),
        ([[3, 3], [4, 5]], (0, 0), "MISS"),
        ([[9, 3], [8, 4]], (0, 2), "MISS"),  # fewer connections but more errors
        ([], (0, 0), None),
    ],
)
def test_read_split_verdict_needs_every_pair_to_drop_at_no_more_errors(
    pairs: list[list[int]], errors: tuple[int, int], verdict: str | None
) -> None:
    assert read_split_verdict(pairs, *errors) == verdict
