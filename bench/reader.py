"""Reads as the functions make them (orders.reads), for many simulated environments per process.

The handlers read through ``orders.reads``, which takes this environment's writer and reader
Databases from ``orders.runtime``: one of each per process, as one Lambda execution environment
has. The lab runs hundreds of environments as threads of one process, so it gives ``orders.reads``
a per-thread lookup instead (``bind`` before each request) and leaves the rest of the code as is:
the reader-then-writer fallback, the retry on a miss, the settings (``DbSettings.reader()``).
An ``ObservedDatabase`` notes each call's outcome, so the lab can tell which endpoint answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from orders import reads, runtime
from orders.db import Connection, Database

T = TypeVar("T")
# Which endpoint answered a read, and why the writer did when it did.
READER, WRITER, NONE = "reader", "writer", "none"
REASON_UNAVAILABLE = "reader_unavailable"  # the reader failed (DatabaseUnavailableError)
REASON_MISS = "reader_miss"  # the reader answered "not found": replica lag
SERVED_KEYS = ("reader", "writer", REASON_UNAVAILABLE, REASON_MISS, "failed")

_local = threading.local()


class ObservedDatabase(Database):
    """``orders.db.Database`` that records each ``run``'s outcome: "ok" or the error's type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[str] = []

    def run(self, operation: Callable[[Connection], T], *, retry_safe: bool) -> T:
        try:
            result = super().run(operation, retry_safe=retry_safe)
        except Exception as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append("ok")
        return result


def _writer() -> Database:
    return _bound("writer")


def _reader() -> Database:
    return _bound("reader")


def _bound(role: str) -> Database:
    database = getattr(_local, role, None)
    if database is None:
        raise RuntimeError(f"no {role} Database bound to this thread: call bench.reader.bind()")
    assert isinstance(database, Database)
    return database


def install() -> None:
    """Point ``orders.reads`` at this thread's Databases (once per process; idempotent).

    Fails when ``orders.reads`` no longer takes them from ``orders.runtime``: a lab that kept
    patching names the runtime stopped using would measure one process-wide Database.
    """
    # The names orders.reads imported from orders.runtime, and what replaces each.
    lookups = {
        "get_database": (runtime.get_database, _writer),
        "get_read_database": (runtime.get_read_database, _reader),
    }
    current = {name: getattr(reads, name, None) for name in lookups}
    if all(current[name] is ours for name, (_, ours) in lookups.items()):
        return
    if any(current[name] is not original for name, (original, _) in lookups.items()):
        raise RuntimeError(
            "orders.reads no longer reads its Databases from orders.runtime.get_database/"
            "get_read_database: bench.reader must follow it"
        )
    for name, (_, ours) in lookups.items():
        setattr(reads, name, ours)


def bind(writer: Database, reader: Database) -> None:
    """This thread's environment: its writer and reader (the same object when no reader)."""
    _local.writer, _local.reader = writer, reader


def open_databases(
    settings: Any, tokens: Callable[[], str]
) -> tuple[ObservedDatabase, ObservedDatabase]:
    """Writer and reader as ``orders.runtime`` builds them: the reader from
    ``settings.reader()`` (DB_READ_HOST), else the writer itself."""
    writer = ObservedDatabase(settings, tokens)
    reader_settings = settings.reader()
    reader = writer if reader_settings is None else ObservedDatabase(reader_settings, tokens)
    return writer, reader


def served_by(writer: ObservedDatabase, reader: ObservedDatabase) -> tuple[str, str]:
    """Who answered the read just made (call ``clear`` before it): (endpoint, reason)."""
    if reader is writer:
        return (WRITER if writer.outcomes[-1:] == ["ok"] else NONE), ""
    if not writer.outcomes:
        return (READER if reader.outcomes[-1:] == ["ok"] else NONE), ""
    reason = REASON_MISS if reader.outcomes[-1:] == ["ok"] else REASON_UNAVAILABLE
    return (WRITER if writer.outcomes[-1:] == ["ok"] else NONE), reason


def clear(*databases: ObservedDatabase) -> None:
    for database in databases:
        database.outcomes.clear()


def count_served(counts: dict[str, int], endpoint: str, reason: str) -> None:
    """Add one read to ``counts`` (keys SERVED_KEYS): by endpoint, and the writer's reason."""
    key = endpoint if endpoint != NONE else "failed"
    counts[key] = counts.get(key, 0) + 1
    if reason:
        counts[reason] = counts.get(reason, 0) + 1
