"""Order operations: parameterised, pinning-safe SQL run through the connection layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from orders.db import Connection, Database
from orders.errors import ConflictError, NotFoundError
from orders.validation import CreateOrder, ListOrders

_COLUMNS = (
    "order_id, customer_id, idempotency_key, request_hash, status, items, total_cents, created_at"
)

# ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to finish, so the SELECT
# that follows (a new statement in autocommit mode, hence a new snapshot) sees the winner's row.
_INSERT = f"""
INSERT INTO shop.orders (customer_id, idempotency_key, request_hash, items, total_cents)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (customer_id, idempotency_key) DO NOTHING
RETURNING {_COLUMNS}
"""  # noqa: S608  # only a constant column list is interpolated
_SELECT_BY_KEY = f"""
SELECT {_COLUMNS} FROM shop.orders WHERE customer_id = %s AND idempotency_key = %s
"""  # noqa: S608
_SELECT_BY_ID = f"SELECT {_COLUMNS} FROM shop.orders WHERE order_id = %s"  # noqa: S608
_SELECT_BY_CUSTOMER = f"""
SELECT {_COLUMNS} FROM shop.orders WHERE customer_id = %s
ORDER BY created_at DESC, order_id DESC LIMIT %s
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class Order:
    order_id: UUID
    customer_id: UUID
    idempotency_key: str
    request_hash: str
    status: str
    items: list[dict[str, Any]]
    total_cents: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Order:
        return cls(*row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "customer_id": str(self.customer_id),
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "items": self.items,
            "total_cents": self.total_cents,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CreateResult:
    order: Order
    created: bool


def create_order(db: Database, command: CreateOrder) -> CreateResult:
    """Create the order once per (customer, idempotency key); a retry returns the first one."""

    def operation(conn: Connection) -> CreateResult:
        params = (
            command.customer_id,
            command.idempotency_key,
            command.request_hash,
            Jsonb([item.as_dict() for item in command.items]),
            command.total_cents,
        )
        row = conn.execute(_INSERT, params).fetchone()
        if row is not None:
            return CreateResult(Order.from_row(row), created=True)
        row = conn.execute(
            _SELECT_BY_KEY, (command.customer_id, command.idempotency_key)
        ).fetchone()
        if row is None:  # pragma: no cover  # rows are never deleted by the app role
            raise NotFoundError("the order for this idempotency key disappeared")
        return CreateResult(Order.from_row(row), created=False)

    # Safe to retry: the unique (customer_id, idempotency_key) makes a second attempt a no-op
    # that returns the row the first attempt may have committed before the connection died.
    result = db.run(operation, retry_safe=True)
    if result.order.request_hash != command.request_hash:
        raise ConflictError(
            "this idempotency key was already used for a different order; use a new key"
        )
    return result


def get_order(db: Database, order_id: UUID) -> Order:
    row = db.run(lambda conn: conn.execute(_SELECT_BY_ID, (order_id,)).fetchone(), retry_safe=True)
    if row is None:
        raise NotFoundError(f"order {order_id} was not found")
    return Order.from_row(row)


def in_recovery(db: Database) -> bool:
    """Whether the server behind ``db`` is a replica (an Aurora reader reports true)."""
    row = db.run(
        lambda conn: conn.execute("SELECT pg_is_in_recovery()").fetchone(), retry_safe=True
    )
    return bool(row and row[0])


def list_orders(db: Database, query: ListOrders) -> list[Order]:
    rows = db.run(
        lambda conn: conn.execute(_SELECT_BY_CUSTOMER, (query.customer_id, query.limit)).fetchall(),
        retry_safe=True,
    )
    return [Order.from_row(row) for row in rows]
