"""A drill environment: the orders service's create path with a user's bounded same-key retry."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from bench import reader as R
from bench.stats import classify_cause
from bench.workload import Catalog, Target, create_body
from orders import reads, service
from orders.errors import NotFoundError, OrdersError
from orders.validation import ListOrders, parse_create_order, parse_limit, parse_uuid

# One attempt: (start monotonic s, end monotonic s, op, cause or "ok", status code, attempt no.)
Attempt = tuple[float, float, str, str, int, int]
# One acknowledged create: (idempotency key, customer id, order id, status 201|200, attempt no.)
Ack = tuple[str, str, str, int, int]
# One read with a reader: (start s, end s, op, endpoint that answered, why the writer did)
Read = tuple[float, float, str, str, str]
# The read of an order right after its create was acknowledged (read-after-write).
READ_OWN = "get-own"


class DrillEnvironment:
    """One execution environment of the drill: module-scope Database, create-heavy mix.

    Every create has a new idempotency key; a failed create is sent again with the same key and
    the same body at this environment's next invocation, as a user's retry would be, up to
    ``max_attempts`` in all (then the key is abandoned). Each acknowledgment (201 created,
    200 replayed) goes into the ledger with the order id the service returned.

    Reads go through ``orders.reads``, as the GET handlers do. With a read host (the reader
    drill) they reach the reader first, every read records which endpoint answered, and the
    invocation after each acknowledged create reads that order back (read-after-write): a 404
    there is a false one, since the writer has the order.
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

        R.install()
        # The writer, and the reader (the writer itself without a read host), as orders.runtime
        # builds them.
        self.db, self.reader = R.open_databases(target.db_settings(), counting_tokens)
        self.has_reader = self.reader is not self.db
        self.reads: list[Read] = []
        self.own_read: str | None = None  # an order to read back next (with a reader)
        self.false_404s = 0
        self.pending: tuple[dict[str, Any], int] | None = None  # (body, attempts so far)
        self.created = 0
        self.attempts: list[Attempt] = []
        self.acks: list[Ack] = []
        self.abandoned: list[str] = []
        self.unclassified: list[str] = []  # messages of failures no cause matched (a few)

    def close(self) -> None:
        self.db.close()
        self.reader.close()

    def connections_opened(self) -> int:
        return self.db.connects + (self.reader.connects if self.has_reader else 0)

    def invoke(self) -> str:
        R.bind(self.db, self.reader)
        if self.own_read is not None:
            return self._read_own(self.own_read)
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
        if self.has_reader:
            self.own_read = str(order.order_id)
        return "create"

    def _read(self) -> str:
        if self.rng.random() < 0.5:
            order_id = parse_uuid(self.rng.choice(self.catalog.order_ids), "order_id")
            return self._timed_read("get", lambda: reads.get_order(order_id))
        customer = parse_uuid(self.rng.choice(self.catalog.customers), "customer_id")
        query = ListOrders(customer_id=customer, limit=parse_limit(5))
        return self._timed_read("list", lambda: reads.list_orders(query))

    def _read_own(self, order_id: str) -> str:
        self.own_read = None
        own: UUID = parse_uuid(order_id, "order_id")
        try:
            return self._timed_read(READ_OWN, lambda: reads.get_order(own))
        except NotFoundError:
            self.false_404s += 1  # acknowledged, so on the writer: this 404 is false
            raise

    def _timed_read(self, op: str, read: Callable[[], object]) -> str:
        started = _now()
        R.clear(self.db, self.reader)
        try:
            read()
        except Exception as exc:
            status = exc.status if isinstance(exc, OrdersError) else 500
            self.attempts.append((started, _now(), op, self._cause(exc), status, 1))
            self._note_read(started, op, failed=True)
            raise
        self.attempts.append((started, _now(), op, "ok", 200, 1))
        self._note_read(started, op, failed=False)
        return op

    def _note_read(self, started: float, op: str, *, failed: bool) -> None:
        """Which endpoint answered (with a reader); a read that raised was answered by none."""
        if self.has_reader:
            endpoint, reason = R.served_by(self.db, self.reader)
            self.reads.append((started, _now(), op, R.NONE if failed else endpoint, reason))

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
            **({"reads": self.reads, "false_404s": self.false_404s} if self.has_reader else {}),
        }


def _now() -> float:
    return time.monotonic()
