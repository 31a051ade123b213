"""API and direct handlers: routing, status codes, safe errors, and fuzzed events never crash."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import contract, runtime, service
from orders.db import Database
from orders.errors import ConflictError, NotFoundError
from orders.handlers import api, direct
from orders.service import CreateResult, Order
from orders.validation import CreateOrder, ListOrders
from tests.lambdas.fakes import FakeConnectionFactory, FakeTokenProvider, LambdaContext, db_settings

CUSTOMER = "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f"
ITEMS = [{"sku": "TSHIRT-M", "quantity": 2, "unit_price_cents": 1500}]
CTX = LambdaContext()


class FakeOrders:
    """In-memory stand-in for the service functions (the SQL is covered by integration tests)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[uuid.UUID, str], Order] = {}
        self.list_calls: list[ListOrders] = []

    def create_order(self, db: Database, command: CreateOrder) -> CreateResult:
        key = (command.customer_id, command.idempotency_key)
        existing = self.orders.get(key)
        if existing is not None:
            if existing.request_hash != command.request_hash:
                raise ConflictError("this idempotency key was already used for a different order")
            return CreateResult(existing, created=False)
        order = Order(
            order_id=uuid.uuid4(),
            customer_id=command.customer_id,
            idempotency_key=command.idempotency_key,
            request_hash=command.request_hash,
            status="PLACED",
            items=[item.as_dict() for item in command.items],
            total_cents=command.total_cents,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        self.orders[key] = order
        return CreateResult(order, created=True)

    def get_order(self, db: Database, order_id: uuid.UUID) -> Order:
        for order in self.orders.values():
            if order.order_id == order_id:
                return order
        raise NotFoundError(f"order {order_id} was not found")

    def list_orders(self, db: Database, query: ListOrders) -> list[Order]:
        self.list_calls.append(query)
        return [o for o in self.orders.values() if o.customer_id == query.customer_id]


@pytest.fixture
def fake_orders(monkeypatch: pytest.MonkeyPatch) -> FakeOrders:
    fake = FakeOrders()
    monkeypatch.setattr(service, "create_order", fake.create_order)
    monkeypatch.setattr(service, "get_order", fake.get_order)
    monkeypatch.setattr(service, "list_orders", fake.list_orders)
    runtime.set_database(Database(db_settings(), FakeTokenProvider()))  # never connects
    return fake


class AlwaysFailingFactory:
    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self, settings: Any, password: str) -> Any:
        self.attempts += 1
        raise psycopg.OperationalError('connection to server at "10.0.0.1" failed: timeout')


@pytest.fixture
def unreachable_db() -> AlwaysFailingFactory:
    factory = AlwaysFailingFactory()
    runtime.set_database(Database(db_settings(), FakeTokenProvider(), factory))
    return factory


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    stage: str = "$default",
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "headers": headers or {},
        "queryStringParameters": query,
        "requestContext": {"http": {"method": method, "path": path}, "stage": stage},
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def create_event(key: str = "k-1", items: list[dict[str, Any]] = ITEMS) -> dict[str, Any]:
    return http_event(
        "POST",
        "/orders",
        body={"customer_id": CUSTOMER, "items": items},
        headers={"Idempotency-Key": key},
    )


def parsed(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_post_orders_creates_with_201_and_a_retry_returns_the_same_order_with_200(
    fake_orders: FakeOrders,
) -> None:
    first = api.handler(create_event(), CTX)
    retry = api.handler(create_event(), CTX)
    assert first["statusCode"] == 201
    assert retry["statusCode"] == 200
    assert retry["headers"]["idempotent-replayed"] == "true"
    assert parsed(first) == parsed(retry)
    assert parsed(first)["total_cents"] == 3000
    assert len(fake_orders.orders) == 1


def test_reusing_an_idempotency_key_for_a_different_order_is_a_409(
    fake_orders: FakeOrders,
) -> None:
    api.handler(create_event(), CTX)
    response = api.handler(create_event(items=[{**ITEMS[0], "quantity": 5}]), CTX)
    assert response["statusCode"] == 409
    assert parsed(response)["error"]["code"] == "Conflict"


def test_get_order_returns_it_and_an_unknown_id_is_a_404(fake_orders: FakeOrders) -> None:
    order_id = parsed(api.handler(create_event(), CTX))["order_id"]
    found = api.handler(http_event("GET", f"/orders/{order_id}"), CTX)
    missing = api.handler(http_event("GET", f"/orders/{uuid.uuid4()}"), CTX)
    assert found["statusCode"] == 200
    assert parsed(found)["order_id"] == order_id
    assert missing["statusCode"] == 404


def test_list_customer_orders_passes_the_limit_and_returns_the_orders(
    fake_orders: FakeOrders,
) -> None:
    api.handler(create_event(), CTX)
    response = api.handler(
        http_event("GET", f"/customers/{CUSTOMER}/orders", query={"limit": "5"}), CTX
    )
    assert response["statusCode"] == 200
    assert len(parsed(response)["orders"]) == 1
    assert fake_orders.list_calls[-1].limit == 5


def test_path_behind_a_named_stage_is_routed(fake_orders: FakeOrders) -> None:
    # A named stage is the first segment of rawPath and is named in requestContext.stage.
    response = api.handler(
        http_event("GET", f"/prod/customers/{CUSTOMER}/orders", stage="prod"), CTX
    )
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (http_event("DELETE", "/orders"), 405, "DELETE is not allowed"),
        (http_event("GET", "/orders"), 405, "use POST"),
        (http_event("POST", f"/orders/{CUSTOMER}"), 405, "use GET"),
        (http_event("GET", "/admin"), 404, "no route for GET /admin"),
        (http_event("GET", "/orders/42"), 400, "order_id must be a UUID"),
        (http_event("GET", f"/customers/{CUSTOMER}/orders", query={"limit": "0"}), 400, "limit"),
        (http_event("POST", "/orders", body="{not json"), 400, "not valid JSON"),
        (
            http_event("POST", "/orders", body={"customer_id": CUSTOMER, "items": ITEMS}),
            400,
            "idempotency key is required",
        ),
        (
            http_event(
                "POST", "/orders", body={"customer_id": CUSTOMER}, headers={"idempotency-key": "?"}
            ),
            400,
            "Idempotency-Key must be",
        ),
        ({"rawPath": "/orders"}, 400, "not an HTTP API"),
        ({}, 400, "not an HTTP API"),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_clear_message(
    fake_orders: FakeOrders, event: dict[str, Any], status: int, message: str
) -> None:
    response = api.handler(event, CTX)
    assert response["statusCode"] == status
    assert message in parsed(response)["error"]["message"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({**create_event(), "headers": {"idempotency-key": 7}}, "headers must be strings"),
        ({**create_event(), "headers": ["idempotency-key"]}, "headers must be strings"),
        (
            {**http_event("GET", f"/customers/{CUSTOMER}/orders"), "queryStringParameters": []},
            "queryStringParameters",
        ),
        (
            {
                **http_event("GET", "/orders/x"),
                "requestContext": {"http": {"method": "GET"}, "stage": 1},
            },
            "not an HTTP API",
        ),
    ],
)
def test_an_event_the_resolver_cannot_read_is_a_400_not_a_crash(
    fake_orders: FakeOrders, event: dict[str, Any], message: str
) -> None:
    response = api.handler(event, CTX)
    assert response["statusCode"] == 400
    assert message in parsed(response)["error"]["message"]
    assert fake_orders.orders == {}


def test_responses_are_json_and_errors_carry_the_content_type_too(fake_orders: FakeOrders) -> None:
    for response in (
        api.handler(create_event(), CTX),
        api.handler(http_event("GET", "/nope"), CTX),
        api.handler(None, CTX),
    ):
        assert response["headers"]["Content-Type"] == "application/json"
        assert isinstance(parsed(response), dict)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/orders/", 201),
        ("GET", f"/customers/{CUSTOMER}/orders/", 200),
        ("GET", "/orders/", 405),
        ("PUT", f"/orders/{CUSTOMER}/", 405),
    ],
)
def test_a_trailing_slash_is_routed_like_the_path_without_it(
    fake_orders: FakeOrders, method: str, path: str, status: int
) -> None:
    event = http_event(
        method,
        path,
        body={"customer_id": CUSTOMER, "items": ITEMS},
        headers={"Idempotency-Key": "t"},
    )
    assert api.handler(event, CTX)["statusCode"] == status


def test_head_on_a_get_route_is_a_405_naming_get(fake_orders: FakeOrders) -> None:
    response = api.handler(http_event("HEAD", f"/orders/{CUSTOMER}"), CTX)
    assert response["statusCode"] == 405
    assert parsed(response)["error"] == {
        "code": "MethodNotAllowed",
        "message": f"HEAD is not allowed on /orders/{CUSTOMER}; use GET",
    }


def test_unexpected_errors_are_a_500_with_a_generic_message(
    fake_orders: FakeOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: Database, query: ListOrders) -> list[Order]:
        raise KeyError("secret-internal-detail")

    monkeypatch.setattr(service, "list_orders", broken)
    response = api.handler(http_event("GET", f"/customers/{CUSTOMER}/orders"), CTX)
    assert response["statusCode"] == 500
    assert parsed(response) == {"error": {"code": "InternalError", "message": "internal error"}}


@pytest.mark.parametrize("event", [None, [], "GET /orders", 42])
def test_an_event_that_is_not_an_object_is_a_400(fake_orders: FakeOrders, event: Any) -> None:
    assert api.handler(event, CTX)["statusCode"] == 400
    assert direct.handler(event, CTX)["statusCode"] == 400


def test_unreachable_database_is_a_503_with_a_generic_message(
    unreachable_db: AlwaysFailingFactory,
) -> None:
    response = api.handler(http_event("GET", f"/orders/{uuid.uuid4()}"), CTX)
    assert response["statusCode"] == 503
    assert "10.0.0.1" not in response["body"]
    assert parsed(response)["error"]["code"] == "ServiceUnavailable"


def test_sql_errors_are_a_500_that_does_not_leak_the_sql_error(
    fake_orders: FakeOrders, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a statement the database rejects, run through the real connection layer
    runtime.set_database(Database(db_settings(), FakeTokenProvider(), FakeConnectionFactory()))

    def fail(conn: Any) -> None:
        raise psycopg.errors.UndefinedTable('relation "shop.orders" does not exist')

    def broken(db: Database, order_id: uuid.UUID) -> Order:
        return db.run(fail, retry_safe=True)  # type: ignore[func-returns-value]

    monkeypatch.setattr(service, "get_order", broken)
    response = api.handler(http_event("GET", f"/orders/{uuid.uuid4()}"), CTX)
    # THEN the caller gets a generic 500 and the log gets the SQLSTATE
    assert response["statusCode"] == 500
    assert parsed(response) == {"error": {"code": "InternalError", "message": "internal error"}}
    assert "shop.orders" not in response["body"]
    assert any("sqlstate=42P01" in record.getMessage() for record in caplog.records)


def test_missing_configuration_is_a_500_that_names_nothing_internal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DB_HOST", raising=False)
    response = api.handler(http_event("GET", f"/orders/{uuid.uuid4()}"), CTX)
    assert response["statusCode"] == 500
    assert parsed(response)["error"]["message"] == "the function is misconfigured"


def test_direct_invoke_creates_gets_and_lists_orders(fake_orders: FakeOrders) -> None:
    created = direct.handler(
        {
            "action": contract.CREATE_ORDER_ACTION,
            "customer_id": CUSTOMER,
            "idempotency_key": "d-1",
            "items": ITEMS,
        },
        CTX,
    )
    replay = direct.handler(
        {
            "action": contract.CREATE_ORDER_ACTION,
            "customer_id": CUSTOMER,
            "idempotency_key": "d-1",
            "items": ITEMS,
        },
        CTX,
    )
    order_id = created["body"]["order_id"]
    fetched = direct.handler({"action": contract.GET_ORDER_ACTION, "order_id": order_id}, CTX)
    listed = direct.handler(
        {"action": contract.LIST_ORDERS_ACTION, "customer_id": CUSTOMER, "limit": 10}, CTX
    )
    assert (created["statusCode"], replay["statusCode"]) == (201, 200)
    assert replay["replayed"] is True
    assert fetched["body"]["order_id"] == order_id
    assert [o["order_id"] for o in listed["body"]["orders"]] == [order_id]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"action": "drop_table"},
            "action must be one of check_endpoints, create_order, get_order, list_orders",
        ),
        ({}, "action must be one of"),
        ({"action": contract.GET_ORDER_ACTION}, "order_id must be a UUID"),
        (
            {"action": contract.GET_ORDER_ACTION, "order_id": CUSTOMER, "sql": "x"},
            "unknown fields: sql",
        ),
        ({"action": contract.LIST_ORDERS_ACTION, "customer_id": CUSTOMER, "limit": 1000}, "limit"),
        (
            {"action": contract.CREATE_ORDER_ACTION, "customer_id": CUSTOMER, "items": ITEMS},
            "idempotency key",
        ),
    ],
)
def test_direct_invoke_with_a_bad_event_is_a_400_with_a_clear_message(
    fake_orders: FakeOrders, event: dict[str, Any], message: str
) -> None:
    response = direct.handler(event, CTX)
    assert response["statusCode"] == 400
    assert message in response["body"]["error"]["message"]


# Fuzzing: valid-looking and hostile events alike. The database is unreachable, so a request
# that passes validation ends in 503; anything else must be a 4xx. A 500 would mean a crash path.
ALLOWED = {400, 404, 405, 503}
json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=20,
)
segments = st.sampled_from([CUSTOMER, str(uuid.uuid4()), "", "..", "%00", "x" * 200]) | st.text(
    max_size=40
)
paths = st.one_of(
    st.builds(lambda s: f"/orders/{s}", segments),
    st.builds(lambda s: f"/customers/{s}/orders", segments),
    st.just("/orders"),
    st.text(max_size=60),
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=80),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"customer_id": segments, "items": json_values},
        optional={"idempotency_key": json_values},
    ).map(json.dumps),
)
http_events = st.fixed_dictionaries(
    {
        "rawPath": paths | json_values,
        "requestContext": st.one_of(
            st.fixed_dictionaries(
                {"http": st.fixed_dictionaries({"method": st.sampled_from(["GET", "POST", "PUT"])})}
            ),
            json_values,
        ),
    },
    optional={
        "headers": st.dictionaries(
            st.sampled_from(["idempotency-key", "Idempotency-Key", "content-type"]),
            st.text(max_size=140) | json_values,
            max_size=2,
        ),
        "queryStringParameters": st.dictionaries(st.just("limit"), json_values, max_size=1),
        "body": bodies | json_values,
        "isBase64Encoded": json_values,
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=http_events | json_values)
def test_fuzzed_http_events_never_crash_the_api_handler(
    unreachable_db: AlwaysFailingFactory, event: Any
) -> None:
    response = api.handler(event, CTX)
    assert response["statusCode"] in ALLOWED, response
    assert json.loads(response["body"])["error"]["message"]


direct_events = st.fixed_dictionaries(
    {
        "action": st.sampled_from(
            [contract.CREATE_ORDER_ACTION, contract.GET_ORDER_ACTION, contract.LIST_ORDERS_ACTION]
        )
        | json_values
    },
    optional={
        "order_id": segments | json_values,
        "customer_id": segments | json_values,
        "limit": json_values,
        "items": json_values,
        "idempotency_key": json_values,
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=direct_events | json_values)
def test_fuzzed_direct_events_never_crash_the_direct_handler(
    unreachable_db: AlwaysFailingFactory, event: Any
) -> None:
    response = direct.handler(event, CTX)
    assert response["statusCode"] in ALLOWED, response
    assert response["body"]["error"]["message"]
