"""Input validation: turns untrusted event fragments into typed commands or a ValidationError."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from orders.errors import ValidationError

MAX_BODY_BYTES = 64 * 1024
MAX_ITEMS = 50
MAX_QUANTITY = 1000
MAX_UNIT_PRICE_CENTS = 10_000_000
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_KEY_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_SKU_RE = re.compile(r"[A-Za-z0-9._\-]{1,64}")


@dataclass(frozen=True, slots=True)
class OrderItem:
    sku: str
    quantity: int
    unit_price_cents: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price_cents": self.unit_price_cents,
        }


@dataclass(frozen=True, slots=True)
class CreateOrder:
    customer_id: UUID
    idempotency_key: str
    items: tuple[OrderItem, ...]

    @property
    def total_cents(self) -> int:
        return sum(item.quantity * item.unit_price_cents for item in self.items)

    @property
    def request_hash(self) -> str:
        """Fingerprint of what was asked for: a key reused with a different request is a 409."""
        canonical = json.dumps(
            {"customer_id": str(self.customer_id), "items": [i.as_dict() for i in self.items]},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ListOrders:
    customer_id: UUID
    limit: int


def field_names(keys: Iterable[object]) -> str:
    """Unknown field names for an error message, bounded so a hostile event cannot bloat it."""
    return ", ".join(sorted(str(key)[:40] for key in keys)[:10])


def parse_uuid(value: object, field: str) -> UUID:
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise ValidationError(f"{field} must be a UUID like 3f2b8c1e-0d4a-4e8b-9c7d-2a1b3c4d5e6f")
    return UUID(value)


def parse_idempotency_key(value: object, field: str = "idempotency_key") -> str:
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        raise ValidationError(f"{field} must be 1-128 characters of letters, digits and . _ : -")
    return value


def parse_limit(value: object) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, bool):
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 4:
            raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}")
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def _bounded_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field} must be an integer from {low} to {high}")
    return value


def parse_items(value: object) -> tuple[OrderItem, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        raise ValidationError(f"items must be a list of 1 to {MAX_ITEMS} objects")
    items: list[OrderItem] = []
    for index, raw in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(raw, dict):
            raise ValidationError(f"{where} must be an object with sku, quantity, unit_price_cents")
        unknown = set(raw) - {"sku", "quantity", "unit_price_cents"}
        if unknown:
            raise ValidationError(f"{where} has unknown fields: {field_names(unknown)}")
        sku = raw.get("sku")
        if not isinstance(sku, str) or not _SKU_RE.fullmatch(sku):
            raise ValidationError(
                f"{where}.sku must be 1-64 characters of letters, digits and . _ -"
            )
        items.append(
            OrderItem(
                sku=sku,
                quantity=_bounded_int(raw.get("quantity"), f"{where}.quantity", 1, MAX_QUANTITY),
                unit_price_cents=_bounded_int(
                    raw.get("unit_price_cents"),
                    f"{where}.unit_price_cents",
                    0,
                    MAX_UNIT_PRICE_CENTS,
                ),
            )
        )
    return tuple(items)


def parse_create_order(body: object, header_key: str | None = None) -> CreateOrder:
    """Validate a create-order body; the idempotency key may come from a header or the body."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = set(body) - {"customer_id", "items", "idempotency_key"}
    if unknown:
        raise ValidationError(f"unknown fields: {field_names(unknown)}")
    body_key = body.get("idempotency_key")
    if header_key is not None and body_key is not None and header_key != body_key:
        raise ValidationError("Idempotency-Key header and idempotency_key field differ")
    raw_key = header_key if header_key is not None else body_key
    if raw_key is None:
        raise ValidationError(
            "an idempotency key is required (Idempotency-Key header or idempotency_key field)"
        )
    return CreateOrder(
        customer_id=parse_uuid(body.get("customer_id"), "customer_id"),
        idempotency_key=parse_idempotency_key(
            raw_key, "Idempotency-Key" if header_key is not None else "idempotency_key"
        ),
        items=parse_items(body.get("items")),
    )


def parse_json_body(raw: object, *, is_base64: bool = False) -> object:
    """Decode an HTTP body (string, optionally base64) into JSON, bounded in size and depth."""
    if raw is None or raw == "":
        raise ValidationError("the request body is required (a JSON object)")
    if not isinstance(raw, str):
        raise ValidationError("the request body must be a JSON string")
    if is_base64:
        import base64  # noqa: PLC0415  # rare path

        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError:
            raise ValidationError("the request body is not valid base64") from None
    else:
        data = raw.encode("utf-8", errors="surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ValidationError("the request body is not valid JSON") from None
