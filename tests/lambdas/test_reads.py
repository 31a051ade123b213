"""Reads on the read-only endpoint, the writer behind them; writes only on the writer."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from orders import contract, reads, runtime, service
from orders.db import Database, IamTokenProvider
from orders.errors import DatabaseUnavailableError, NotFoundError
from orders.handlers import api, direct
from orders.validation import ListOrders
from tests.lambdas.fakes import FakeConnectionFactory, FakeTokenProvider, LambdaContext, db_settings

ORDER_ID = uuid.uuid4()
READER_HOST = "orders-ro.endpoint.proxy-abc.eu-west-1.rds.amazonaws.com"


def database(**overrides: Any) -> Database:
    return Database(db_settings(**overrides), FakeTokenProvider(), FakeConnectionFactory())


@dataclass
class Store:
    """service.get_order/list_orders by database: what each endpoint has, and who was asked."""

    writer: Database
    reader: Database
    on_reader: set[uuid.UUID] = field(default_factory=set)
    on_writer: set[uuid.UUID] = field(default_factory=set)
    reader_down: bool = False
    asked: list[str] = field(default_factory=list)

    def _name(self, db: Database) -> str:
        return "writer" if db is self.writer else "reader"

    def get_order(self, db: Database, order_id: uuid.UUID) -> Any:
        name = self._name(db)
        self.asked.append(name)
        if name == "reader" and self.reader_down:
            raise DatabaseUnavailableError("the database is not reachable")
        if order_id not in (self.on_reader if name == "reader" else self.on_writer):
            raise NotFoundError(f"order {order_id} was not found")
        return Served(name)

    def list_orders(self, db: Database, query: ListOrders) -> Any:
        name = self._name(db)
        self.asked.append(name)
        if name == "reader" and self.reader_down:
            raise DatabaseUnavailableError("the database is not reachable")
        return [Served(name)]


@dataclass(frozen=True)
class Served:
    """Stands in for an Order: says which endpoint answered."""

    by: str

    def as_dict(self) -> dict[str, str]:
        return {"served_by": self.by}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    writer, reader = database(), database(DB_HOST=READER_HOST)
    runtime.set_database(writer, reader)
    fake = Store(writer, reader)
    monkeypatch.setattr(service, "get_order", fake.get_order)
    monkeypatch.setattr(service, "list_orders", fake.list_orders)
    return fake


def test_a_read_the_reader_answers_never_touches_the_writer(store: Store) -> None:
    store.on_reader.add(ORDER_ID)
    assert reads.get_order(ORDER_ID) == Served("reader")
    assert reads.list_orders(ListOrders(customer_id=uuid.uuid4(), limit=10)) == [Served("reader")]
    assert store.asked == ["reader", "reader"]


def test_an_order_the_reader_has_not_seen_yet_is_read_from_the_writer(store: Store) -> None:
    # GIVEN an order just created on the writer that replication has not brought over yet
    store.on_writer.add(ORDER_ID)
    # WHEN the client reads its own write THEN the writer answers, once
    assert reads.get_order(ORDER_ID) == Served("writer")
    assert store.asked == ["reader", "writer"]


def test_a_404_needs_both_endpoints_to_miss(store: Store) -> None:
    with pytest.raises(NotFoundError):
        reads.get_order(ORDER_ID)
    assert store.asked == ["reader", "writer"]


def test_an_unavailable_reader_falls_back_to_the_writer(store: Store) -> None:
    store.reader_down = True
    store.on_writer.add(ORDER_ID)
    assert reads.get_order(ORDER_ID) == Served("writer")
    assert reads.list_orders(ListOrders(customer_id=uuid.uuid4(), limit=10)) == [Served("writer")]
    # the second read does not wait on the reader again (READER_RETRY_AFTER_S)
    assert store.asked == ["reader", "writer", "writer"]


def test_without_a_reader_everything_reads_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = database()
    runtime.set_database(writer)
    fake = Store(writer, reader=writer)
    fake.on_writer.add(ORDER_ID)
    monkeypatch.setattr(service, "get_order", fake.get_order)
    assert runtime.get_read_database() is writer
    assert reads.get_order(ORDER_ID) == Served("writer")
    assert fake.asked == ["writer"]


def _api_event(method: str, path: str, route: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}},
        **extra,
    }


def test_the_get_handlers_read_from_the_reader_first(store: Store) -> None:
    store.on_writer.add(ORDER_ID)  # just written: not on the reader yet
    api_event = _api_event(
        "GET",
        f"/orders/{ORDER_ID}",
        "/orders/{order_id}",
        pathParameters={"order_id": str(ORDER_ID)},
    )
    answer = api.handler(api_event, LambdaContext())
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"]) == {"served_by": "writer"}
    direct_answer = direct.handler(
        {"action": contract.GET_ORDER_ACTION, "order_id": str(ORDER_ID)}, LambdaContext()
    )
    assert direct_answer == {"statusCode": 200, "body": {"served_by": "writer"}}
    assert store.asked == ["reader", "writer", "reader", "writer"]


def test_creates_go_to_the_writer_only(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[Database] = []

    def create(db: Database, command: Any) -> Any:
        used.append(db)
        return service.CreateResult(order=Served("writer"), created=True)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "create_order", create)
    body = {
        "customer_id": str(uuid.uuid4()),
        "idempotency_key": "k-1",
        "items": [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}],
    }
    answer = direct.handler({"action": contract.CREATE_ORDER_ACTION, **body}, LambdaContext())
    assert answer["statusCode"] == 201, answer
    assert used == [store.writer]
    assert store.asked == []


def test_the_reader_settings_verify_the_chain_not_the_name_and_sign_for_the_reader() -> None:
    settings = db_settings(DB_READ_HOST=READER_HOST)
    assert settings.sslmode == "verify-full"  # the default endpoint: full verification
    reader = settings.reader()
    assert reader is not None
    assert (reader.host, reader.sslmode, reader.read_host) == (READER_HOST, "verify-ca", None)
    assert (reader.port, reader.user, reader.dbname) == (settings.port, settings.user, "orders")
    assert db_settings().reader() is None
    # A local override to a weaker mode stays as asked (a plain PostgreSQL has no proxy cert).
    local = db_settings(DB_READ_HOST="127.0.0.1", DB_SSLMODE="require").reader()
    assert local is not None
    assert local.sslmode == "require"


def test_the_runtime_signs_reader_tokens_for_the_reader_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "DB_HOST": "orders.proxy-abc.eu-west-1.rds.amazonaws.com",
        "DB_READ_HOST": READER_HOST,
        "DB_PORT": "5432",
        "DB_NAME": "orders",
        "DB_USER": "orders_app",
        "DB_CONNECT_TIMEOUT_S": "2",
        "AWS_REGION": "eu-west-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    writer, reader = runtime.get_database(), runtime.get_read_database()
    assert reader is not writer
    assert runtime.get_read_database() is reader  # built once per environment
    tokens = [writer._token_provider, reader._token_provider]
    assert all(isinstance(t, IamTokenProvider) for t in tokens)
    assert [t.host for t in tokens] == [env["DB_HOST"], READER_HOST]  # type: ignore[attr-defined]
    assert not writer.connected
    assert not reader.connected


def test_a_failed_reader_is_skipped_for_a_while_then_tried_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(reads.time, "monotonic", lambda: now[0])
    store.on_reader.add(ORDER_ID)
    store.on_writer.add(ORDER_ID)
    store.reader_down = True
    # GIVEN a read that found the reader unavailable (it paid the wait once)
    assert reads.get_order(ORDER_ID) == Served("writer")
    # WHEN more reads come within the window THEN they go straight to the writer
    now[0] += reads.READER_RETRY_AFTER_S - 0.1
    assert reads.get_order(ORDER_ID) == Served("writer")
    assert store.asked == ["reader", "writer", "writer"]
    # WHEN the window has passed and the reader is back THEN reads return to it
    store.reader_down = False
    now[0] += 0.2
    assert reads.get_order(ORDER_ID) == Served("reader")


def test_a_miss_on_the_reader_does_not_make_it_skipped(store: Store) -> None:
    store.on_writer.add(ORDER_ID)  # lag, not an outage
    reads.get_order(ORDER_ID)
    store.on_reader.add(ORDER_ID)
    assert reads.get_order(ORDER_ID) == Served("reader")


# --- check_endpoints: each endpoint asked once, no fallback (make smoke) ---------------------


def _in_recovery_through_the_connection_layer(
    monkeypatch: pytest.MonkeyPatch, replica: Database
) -> None:
    """service.in_recovery as the connection layer runs it (FakeConnection runs no SQL): a
    failed connect is the DatabaseUnavailableError an unreachable endpoint gives."""
    monkeypatch.setattr(
        service, "in_recovery", lambda db: db.run(lambda conn: db is replica, retry_safe=True)
    )


def test_check_endpoints_asks_the_writer_and_the_reader_even_when_reads_skip_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer, reader = database(), database(DB_HOST=READER_HOST)
    runtime.set_database(writer, reader)
    _in_recovery_through_the_connection_layer(monkeypatch, replica=reader)
    reader.skip_until = time.monotonic() + 60  # reads would go to the writer now
    answer = direct.handler({"action": contract.CHECK_ENDPOINTS_ACTION}, LambdaContext())
    assert answer == {
        "statusCode": 200,
        "body": {
            "writer": {"ok": True, "in_recovery": False},
            "reader": {"ok": True, "in_recovery": True},
        },
    }
    assert writer.connected
    assert reader.connected


def test_an_unreachable_reader_is_reported_by_class_not_replaced_by_the_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = psycopg.OperationalError('connection to server at "10.0.9.9" failed: timeout')
    writer = database()
    reader = Database(
        db_settings(DB_HOST=READER_HOST),
        FakeTokenProvider(),
        FakeConnectionFactory(failures=[refused, refused]),
    )
    runtime.set_database(writer, reader)
    _in_recovery_through_the_connection_layer(monkeypatch, replica=reader)
    answer = direct.handler({"action": contract.CHECK_ENDPOINTS_ACTION}, LambdaContext())
    assert answer == {
        "statusCode": 200,
        "body": {
            "writer": {"ok": True, "in_recovery": False},
            "reader": {"ok": False, "error": "DatabaseUnavailableError"},
        },
    }
    assert "10.0.9.9" not in json.dumps(answer)


def test_check_endpoints_without_a_reader_reports_the_writer_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = database()
    runtime.set_database(writer)
    _in_recovery_through_the_connection_layer(monkeypatch, replica=writer)
    answer = direct.handler({"action": contract.CHECK_ENDPOINTS_ACTION}, LambdaContext())
    assert answer["body"] == {"writer": {"ok": True, "in_recovery": True}, "reader": None}


def test_check_endpoints_takes_no_fields() -> None:
    runtime.set_database(database())
    answer = direct.handler(
        {"action": contract.CHECK_ENDPOINTS_ACTION, "host": "x"}, LambdaContext()
    )
    assert answer["statusCode"] == 400
    assert answer["body"]["error"]["message"] == "unknown fields: host"
