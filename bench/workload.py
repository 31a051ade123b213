"""The orders code path as the functions run it: real migrations, settings, Database, service."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

# Quiet, process-local observability before `orders` is imported: Powertools would otherwise log
# every connect and failure as JSON on stdout, and the Tracer has no X-Ray daemon to talk to.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "orders-bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrdersBench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from bench import reader as R
from bench.settings import READ_SPLIT_MIX, ProxyModel
from orders import db as orders_db
from orders import migration, reads, service
from orders.db import Database
from orders.settings import DbSettings, MigrationSettings
from orders.validation import ListOrders, parse_create_order, parse_limit, parse_uuid

# Modes of holding connections, one per scenario family.
PER_INVOCATION = "per-invocation"
MODULE = "module"
POOL = "pool"

SKUS = ("sku-tee", "sku-mug", "sku-cap", "sku-sock", "sku-pin")
SEED_CUSTOMERS = 100
SEED_ORDERS_PER_CUSTOMER = 5


class NullMetrics:
    """Stands in for Powertools Metrics inside the bench.

    In Lambda, metrics are per invocation and flushed by the handler decorator; here hundreds of
    simulated environments share one process, so the shared EMF buffer would be mutated from many
    threads and printed to stdout every 100 values. The bench counts connects itself.
    """

    def add_metric(self, **_: Any) -> None:
        return None


def quiet_observability() -> None:
    orders_db.metrics = NullMetrics()  # type: ignore[attr-defined,assignment]


@dataclass(frozen=True)
class Target:
    """Where a simulated environment connects (direct PostgreSQL or the pooler)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    ca_cert: str
    connect_timeout_s: int
    # When set, the token source reads the current credential from this file on every connect
    # (the drill rotates it there); else the fixed ``password``.
    password_file: str | None = None
    # The read-only endpoint's host (DB_READ_HOST): reads go there, at the same port.
    read_host: str | None = None

    def via(self, host: str, port: int) -> Target:
        """The same client settings pointed at another endpoint (the pooler)."""
        return replace(self, host=host, port=port)

    def db_settings(self) -> DbSettings:
        return DbSettings(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            connect_timeout_s=self.connect_timeout_s,
            sslmode="verify-full",
            sslrootcert=Path(self.ca_cert),
            region="local",
            read_host=self.read_host,
        )

    def token_provider(self) -> Callable[[], str]:
        # Stand-in for IamTokenProvider: called on every (re)connect, as the real one is.
        password, path = self.password, self.password_file
        if path is None:
            return lambda: password
        return lambda: Path(path).read_text().strip()


@dataclass(frozen=True)
class Catalog:
    """Seeded customers and order ids the read requests ask for."""

    customers: tuple[str, ...]
    order_ids: tuple[str, ...]


def migrate(
    *,
    host: str,
    port: int,
    admin_user: str,
    admin_password: str,
    app_password: str,
    ca_cert: str,
    model: ProxyModel,
) -> migration.MigrationResult:
    """Run the functions' real deploy-time migration (yoyo + app-role setup) against local PG.

    Plain PostgreSQL has no rds_iam role, so the role uses password (secrets) mode: the password
    is the stand-in for the IAM token.
    """
    secrets = {
        "local:admin": {"username": admin_user, "password": admin_password},
        "local:app": {"username": model.app_db_user, "password": app_password},
    }
    settings = MigrationSettings(
        host=host,
        port=port,
        dbname=model.database_name,
        admin_secret_arn="local:admin",  # noqa: S106  # a key into the dict above
        app_user=model.app_db_user,
        auth_mode="secrets",
        app_user_secret_arn="local:app",  # noqa: S106
        statement_timeout_ms=model.statement_timeout_ms,
        lock_timeout_ms=model.lock_timeout_ms,
        idle_in_transaction_timeout_ms=model.idle_in_transaction_timeout_ms,
        connect_timeout_s=model.connect_timeout_s,
        sslmode="verify-full",
        sslrootcert=Path(ca_cert),
        region="local",
    )
    return migration.run(settings, lambda arn: secrets[arn])


def create_body(rng: random.Random, customer: str, key: str) -> dict[str, Any]:
    items = [
        {
            "sku": rng.choice(SKUS),
            "quantity": rng.randint(1, 3),
            "unit_price_cents": rng.choice((499, 1299, 2500)),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {"customer_id": customer, "idempotency_key": key, "items": items}


def seed_orders(target: Target, seed: int) -> Catalog:
    """Create the read set through the real create path (one Database, app role)."""
    rng = random.Random(seed)
    customers = tuple(str(UUID(int=rng.getrandbits(128), version=4)) for _ in range(SEED_CUSTOMERS))
    database = Database(target.db_settings(), target.token_provider())
    order_ids: list[str] = []
    try:
        for customer in customers:
            for n in range(SEED_ORDERS_PER_CUSTOMER):
                body = create_body(rng, customer, f"seed-{n}")
                result = service.create_order(database, parse_create_order(body))
                order_ids.append(str(result.order.order_id))
    finally:
        database.close()
    return Catalog(customers=customers, order_ids=tuple(order_ids))


class Environment:
    """One simulated execution environment: its own module state, one request at a time.

    ``per-invocation`` opens and closes a Database per request; ``module`` keeps one lazily opened
    Database (what orders.runtime does); ``pool`` opens ``k`` connections up front, as a
    module-scope pool with min_size=k that waits for its connections would.
    """

    def __init__(
        self,
        *,
        env_id: int,
        mode: str,
        target: Target,
        catalog: Catalog,
        seed: int,
        pool_k: int = 1,
    ) -> None:
        self.env_id = env_id
        self.mode = mode
        self.catalog = catalog
        self.rng = random.Random(seed * 1_000_003 + env_id)
        self._settings = target.db_settings()
        self._tokens = target.token_provider()
        size = pool_k if mode == POOL else 1
        self._dbs = [Database(self._settings, self._tokens) for _ in range(size)]
        self._turn = 0
        self._last_create: dict[str, Any] | None = None
        self.invocations = 0

    def close(self) -> None:
        for database in self._dbs:
            database.close()

    def connections_opened(self) -> int:
        return sum(database.connects for database in self._dbs)

    def invoke(self) -> str:
        """Handle one request through the service layer; returns the operation name."""
        self.invocations += 1
        if self.mode == PER_INVOCATION:
            database = Database(self._settings, self._tokens)
            try:
                return self._operation(database)
            finally:
                self._dbs[0].connects += database.connects
                database.close()
        if self.mode == POOL:
            # pool.wait(): every member must be open before the first request is served.
            for member in self._dbs:
                member.run(lambda _conn: None, retry_safe=True)
            self._turn = (self._turn + 1) % len(self._dbs)
        return self._operation(self._dbs[self._turn])

    def _operation(self, database: Database) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            query = ListOrders(
                customer_id=parse_uuid(self.rng.choice(self.catalog.customers), "customer_id"),
                limit=parse_limit(20),
            )
            service.list_orders(database, query)
            return "list"
        if roll < 0.80:
            order_id = parse_uuid(self.rng.choice(self.catalog.order_ids), "order_id")
            service.get_order(database, order_id)
            return "get"
        if self._last_create is not None and self.rng.random() < 0.3:
            body = self._last_create  # a client retry: the idempotent replay path
        else:
            customer = self.rng.choice(self.catalog.customers)
            body = create_body(self.rng, customer, f"env{self.env_id}-{self.invocations}")
            self._last_create = body
        service.create_order(database, parse_create_order(body))
        return "create"


class ReadSplitEnvironment:
    """An environment whose reads go through ``orders.reads`` (reader first, writer behind it)
    and whose creates go to the writer, as the handlers do; without a read host the reader is
    the writer, as ``orders.runtime`` makes it without DB_READ_HOST. Counts who answered."""

    def __init__(self, *, env_id: int, target: Target, catalog: Catalog, seed: int) -> None:
        R.install()  # orders.reads looks up this thread's Databases (worker processes only)
        self.env_id = env_id
        self.catalog = catalog
        self.rng = random.Random(seed * 1_000_003 + env_id)
        self.writer, self.reader = R.open_databases(target.db_settings(), target.token_provider())
        self.served: dict[str, int] = {}
        self.invocations = 0

    def close(self) -> None:
        self.writer.close()
        self.reader.close()

    def connections_opened(self) -> int:
        extra = self.reader.connects if self.reader is not self.writer else 0
        return self.writer.connects + extra

    def invoke(self) -> str:
        self.invocations += 1
        R.bind(self.writer, self.reader)
        roll = self.rng.random()
        if roll >= READ_SPLIT_MIX["get"] + READ_SPLIT_MIX["list"]:
            customer = self.rng.choice(self.catalog.customers)
            body = create_body(self.rng, customer, f"split{self.env_id}-{self.invocations}")
            service.create_order(self.writer, parse_create_order(body))
            return "create"
        if roll < READ_SPLIT_MIX["get"]:
            order_id = parse_uuid(self.rng.choice(self.catalog.order_ids), "order_id")
            return self._read("get", lambda: reads.get_order(order_id))
        customer_id = parse_uuid(self.rng.choice(self.catalog.customers), "customer_id")
        query = ListOrders(customer_id=customer_id, limit=parse_limit(20))
        return self._read("list", lambda: reads.list_orders(query))

    def _read(self, op: str, read: Callable[[], object]) -> str:
        """One read through orders.reads, counted by who answered (none when it raised)."""
        R.clear(self.writer, self.reader)
        failed = True
        try:
            read()
            failed = False
        finally:
            endpoint, reason = R.served_by(self.writer, self.reader)
            R.count_served(self.served, R.NONE if failed else endpoint, reason)
        return op

    def report(self) -> dict[str, int]:
        return dict(self.served)
