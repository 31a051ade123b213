"""A drill environment: the orders service's create path with a user's bounded same-key retry."""

from __future__ import annotations

import random
import time
from typing import Any

from bench.stats import classify_cause
from bench.workload import Catalog, Target, create_body
from orders import service
from orders.db import Database
from orders.errors import OrdersError
from orders.validation import ListOrders, parse_create_order, parse_limit, parse_uuid

# One attempt: (start monotonic s, end monotonic s, op, cause or "ok", status code, attempt no.)
Attempt = tuple[float, float, str, str, int, int]
# One acknowledged create: (idempotency key, customer id, order id, status 201|200, attempt no.)
Ack = tuple[str, str, str, int, int]


class DrillEnvironment:
    """One execution environment of the drill: module-scope Database, create-heavy mix.

    Every create has a new idempotency key; a failed create is sent again with the same key and
    the same body at this environment's next invocation, as a user's retry would be, up to
    ``max_attempts`` in all (then the key is abandoned). Each acknowledgment (201 created,
    200 replayed) goes into the ledger with the order id the service returned.
    """

    def __init__(
        self,
        *,
        env_id: int,
        target: Target,
        catalog: Catalog,
        seed: int,
        create_share: float,
        max_attempts: int,
        key_prefix: str,
    ) -> None:
        self.env_id = env_id
        self.catalog = catalog
        self.rng = random.Random(seed * 7_919 + env_id)
        self.create_share = create_share
        self.max_attempts = max_attempts
        self.key_prefix = key_prefix
        tokens = target.token_provider()
        # (when, credential) of every token the provider handed out: one per connect attempt.
        self.tokens: list[tuple[float, str]] = []

        def counting_tokens() -> str:
            token = tokens()
            self.tokens.append((time.monotonic(), token))
            return token

        self.db = Database(target.db_settings(), counting_tokens)
        self.pending: tuple[dict[str, Any], int] | None = None  # (body, attempts so far)
        self.created = 0
        self.attempts: list[Attempt] = []
        self.acks: list[Ack] = []
        self.abandoned: list[str] = []
        self.unclassified: list[str] = []  # messages of failures no cause matched (a few)

    def close(self) -> None:
        self.db.close()

    def connections_opened(self) -> int:
        return self.db.connects

    def invoke(self) -> str:
        if self.pending is not None or self.rng.random() < self.create_share:
            return self._create()
        return self._read()

    def _cause(self, exc: Exception) -> str:
        cause = classify_cause(exc)
        if cause == "other" and len(self.unclassified) < 3:
            chain = [exc, exc.__cause__ or exc.__context__]
            self.unclassified.append(" <- ".join(f"{type(e).__name__}: {e}" for e in chain if e))
        return cause

    def _create(self) -> str:
        if self.pending is None:
            self.created += 1
            customer = self.rng.choice(self.catalog.customers)
            key = f"{self.key_prefix}-e{self.env_id}-{self.created}"
            self.pending = (create_body(self.rng, customer, key), 0)
        body, attempts = self.pending
        attempt = attempts + 1
        started = _now()
        try:
            result = service.create_order(self.db, parse_create_order(body))
        except Exception as exc:
            cause = self._cause(exc)
            status = exc.status if isinstance(exc, OrdersError) else 500
            self.attempts.append((started, _now(), "create", cause, status, attempt))
            retryable = status >= 500 and attempt < self.max_attempts
            self.pending = (body, attempt) if retryable else None
            if not retryable:
                self.abandoned.append(body["idempotency_key"])
            raise
        status = 201 if result.created else 200
        self.attempts.append((started, _now(), "create", "ok", status, attempt))
        order = result.order
        self.acks.append(
            (order.idempotency_key, str(order.customer_id), str(order.order_id), status, attempt)
        )
        self.pending = None
        return "create"

    def _read(self) -> str:
        started = _now()
        op = "get" if self.rng.random() < 0.5 else "list"
        try:
            if op == "get":
                order_id = parse_uuid(self.rng.choice(self.catalog.order_ids), "order_id")
                service.get_order(self.db, order_id)
            else:
                customer = parse_uuid(self.rng.choice(self.catalog.customers), "customer_id")
                service.list_orders(self.db, ListOrders(customer_id=customer, limit=parse_limit(5)))
        except Exception as exc:
            status = exc.status if isinstance(exc, OrdersError) else 500
            self.attempts.append((started, _now(), op, self._cause(exc), status, 1))
            raise
        self.attempts.append((started, _now(), op, "ok", 200, 1))
        return op

    def report(self) -> dict[str, Any]:
        """What the parent needs: ledger, attempts, abandoned keys, credentials used."""
        return {
            "env_id": self.env_id,
            "acks": self.acks,
            "attempts": self.attempts,
            "abandoned": self.abandoned,
            "pending": None if self.pending is None else self.pending[0]["idempotency_key"],
            "tokens": self.tokens,
            "unclassified": self.unclassified,
            "connects": self.db.connects,
            "retries": self.db.retries,
        }


def _now() -> float:
    return time.monotonic()
