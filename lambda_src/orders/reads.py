"""Reads through the read-only proxy endpoint when there is one, with the writer behind it.

Writes, idempotency checks and anything in a transaction that writes stay on the writer
(`orders.service` called with `runtime.get_database()`). A read goes to the reader first and to
the writer when the reader is unreachable (a stopped replica, a reader endpoint with no
available reader), and, for a single order, when the reader does not have it yet: replicas lag
behind the writer, and a client that reads its own write right after creating it must not get
a false 404 (AWS: "transact any reads requiring read-after-write consistency on the writer").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from orders import service
from orders.db import Database
from orders.errors import DatabaseUnavailableError, NotFoundError, OrdersError
from orders.observability import logger
from orders.runtime import get_database, get_read_database
from orders.validation import ListOrders

T = TypeVar("T")

# After the reader fails to serve a read, this environment sends reads to the writer for this
# long before trying the reader again. RDS Proxy holds a read on a reader endpoint whose readers
# are all unavailable for up to the borrow timeout before failing it, so without the pause every
# read during an outage would pay that wait; with it, one read per environment per window does.
READER_RETRY_AFTER_S = 5.0


def _reader_then_writer(
    operation: Callable[[Database], T], *, also_on: tuple[type[Exception], ...] = ()
) -> T:
    """``operation`` on the reader; on the writer if there is no reader, or once when the
    reader is unavailable or raises one of ``also_on``."""
    reader, writer = get_read_database(), get_database()
    fallback_on: tuple[type[Exception], ...] = (DatabaseUnavailableError, *also_on)
    if reader is not writer and time.monotonic() >= reader.skip_until:
        try:
            return operation(reader)
        except fallback_on as exc:
            if isinstance(exc, DatabaseUnavailableError):
                reader.skip_until = time.monotonic() + READER_RETRY_AFTER_S
            logger.warning("read falls back to the writer", extra={"reason": type(exc).__name__})
    return operation(writer)


def get_order(order_id: UUID) -> service.Order:
    """One order; a miss on the reader may be replication lag, so the writer decides 404."""
    return _reader_then_writer(lambda db: service.get_order(db, order_id), also_on=(NotFoundError,))


def list_orders(query: ListOrders) -> list[service.Order]:
    """A customer's newest orders (from the reader: a list may trail the writer by the lag)."""
    return _reader_then_writer(lambda db: service.list_orders(db, query))


def check_endpoints() -> dict[str, dict[str, Any] | None]:
    """Ask the writer and, when there is one, the read-only endpoint whether they answer and
    whether a replica answered (`make smoke`); no fallback, so each answer is that endpoint's.
    "reader" is None without DB_READ_HOST. A failure is the error class only, never its text."""
    reader, writer = get_read_database(), get_database()
    return {"writer": _probe(writer), "reader": None if reader is writer else _probe(reader)}


def _probe(db: Database) -> dict[str, Any]:
    try:
        return {"ok": True, "in_recovery": service.in_recovery(db)}
    except OrdersError as exc:
        reason = type(exc).__name__
        logger.warning("endpoint check failed", extra={"host": db.settings.host, "reason": reason})
        return {"ok": False, "error": reason}
