"""Event parsing: valid input becomes a typed command, anything else a clear ValidationError."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.errors import ValidationError
from orders.validation import (
    MAX_BODY_BYTES,
    CreateOrder,
    parse_create_order,
    parse_json_body,
    parse_limit,
    parse_uuid,
)

CUSTOMER = "3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f"
ITEMS = [{"sku": "TSHIRT-M", "quantity": 2, "unit_price_cents": 1500}]


def body(**overrides: Any) -> dict[str, Any]:
    return {"customer_id": CUSTOMER, "items": ITEMS, "idempotency_key": "k-1", **overrides}


def test_valid_create_body_becomes_a_command_with_a_server_computed_total() -> None:
    command = parse_create_order(body())
    assert command.customer_id == UUID(CUSTOMER)
    assert command.idempotency_key == "k-1"
    assert command.total_cents == 3000


def test_idempotency_key_from_the_header_is_used_when_the_body_has_none() -> None:
    command = parse_create_order(body(idempotency_key=None) | {}, header_key="hdr-1")
    assert command.idempotency_key == "hdr-1"


def test_header_and_body_idempotency_keys_must_agree() -> None:
    with pytest.raises(ValidationError, match="differ"):
        parse_create_order(body(idempotency_key="a"), header_key="b")


def test_missing_idempotency_key_is_rejected_with_where_to_put_it() -> None:
    raw = body()
    del raw["idempotency_key"]
    with pytest.raises(ValidationError, match="Idempotency-Key header or idempotency_key field"):
        parse_create_order(raw)


def test_same_request_has_the_same_hash_and_a_different_one_does_not() -> None:
    first = parse_create_order(body())
    again = parse_create_order(body(idempotency_key="other-key"))
    changed = parse_create_order(body(items=[{**ITEMS[0], "quantity": 3}]))
    assert first.request_hash == again.request_hash
    assert first.request_hash != changed.request_hash


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"customer_id": "not-a-uuid"}, "customer_id must be a UUID"),
        ({"customer_id": "{" + CUSTOMER + "}"}, "customer_id must be a UUID"),
        ({"items": []}, "items must be a list of 1 to 50"),
        ({"items": [{"sku": "A", "quantity": 0, "unit_price_cents": 1}]}, r"items\[0\].quantity"),
        ({"items": [{"sku": "A", "quantity": True, "unit_price_cents": 1}]}, "quantity"),
        ({"items": [{"sku": "A", "quantity": 1.5, "unit_price_cents": 1}]}, "quantity"),
        ({"items": [{"sku": "A;DROP", "quantity": 1, "unit_price_cents": 1}]}, r"\.sku"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price_cents": -1}]}, "unit_price_cents"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1, "x": 1}]}, "unknown"),
        ({"items": ["A"]}, r"items\[0\] must be an object"),
        ({"idempotency_key": ""}, "idempotency_key must be 1-128"),
        ({"idempotency_key": "x" * 129}, "idempotency_key must be 1-128"),
        ({"idempotency_key": "k'; --"}, "idempotency_key must be 1-128"),
        ({"price_override": 0}, "unknown fields: price_override"),
    ],
)
def test_invalid_create_body_is_rejected_with_a_message_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_create_order(body(**overrides))


@pytest.mark.parametrize(("raw", "expected"), [(None, 20), ("1", 1), ("100", 100), (50, 50)])
def test_limit_defaults_to_20_and_accepts_1_to_100(raw: object, expected: int) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "101", "-1", "1e3", "٣", True, 3.0, "", "99999"])
def test_limit_outside_1_to_100_or_not_an_integer_is_rejected(raw: object) -> None:
    with pytest.raises(ValidationError, match="limit must be an integer from 1 to 100"):
        parse_limit(raw)


def test_base64_body_is_decoded() -> None:
    raw = base64.b64encode(json.dumps(body()).encode()).decode()
    assert parse_json_body(raw, is_base64=True) == body()


@pytest.mark.parametrize(
    ("raw", "is_base64", "message"),
    [
        (None, False, "body is required"),
        ("{", False, "not valid JSON"),
        ("%%%", True, "not valid base64"),
        ("[" * 100_000 + "]" * 100_000, False, "larger than"),
        ("[" * 20_000 + "]" * 20_000, False, "not valid JSON"),
        ("\ud800", False, "not valid JSON"),
        ("x" * (MAX_BODY_BYTES + 1), False, "larger than"),
    ],
    ids=["missing", "truncated", "bad-base64", "huge", "deep-nesting", "lone-surrogate", "big"],
)
def test_malformed_body_is_rejected_without_crashing(
    raw: str | None, is_base64: bool, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_json_body(raw, is_base64=is_base64)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, header=st.none() | st.text(max_size=140))
def test_any_json_body_either_parses_or_raises_a_validation_error(
    value: object, header: str | None
) -> None:
    outcome: CreateOrder | ValidationError
    try:
        outcome = parse_create_order(value, header_key=header)
    except ValidationError as exc:
        outcome = exc
    if isinstance(outcome, ValidationError):
        assert outcome.status == 400
        assert len(outcome.message) < 600
    else:
        assert isinstance(outcome, CreateOrder)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=60))
def test_any_string_is_either_a_uuid_or_a_validation_error(value: str) -> None:
    try:
        parsed = parse_uuid(value, "order_id")
    except ValidationError:
        return
    assert str(parsed) == value.lower()
