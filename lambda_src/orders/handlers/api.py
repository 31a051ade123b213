"""HTTP API (payload v2, IAM auth) handler: list a customer's orders, get one, create one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import service
from orders.errors import NotFoundError, OrdersError, ValidationError
from orders.handlers.common import error_response
from orders.observability import MetricUnit, logger, metrics, tracer
from orders.runtime import get_database
from orders.validation import (
    ListOrders,
    parse_create_order,
    parse_idempotency_key,
    parse_json_body,
    parse_limit,
    parse_uuid,
)

# Matched on rawPath (optionally behind one stage segment) so the handler does not depend on
# how the stack names its routes; path values are validated as UUIDs before use.
_SEGMENT = r"[^/]{1,128}"
_CUSTOMER_ORDERS = re.compile(rf"(?:/{_SEGMENT})?/customers/(?P<customer_id>{_SEGMENT})/orders/?")
_ORDER = re.compile(rf"(?:/{_SEGMENT})?/orders/(?P<order_id>{_SEGMENT})/?")
_ORDERS = re.compile(rf"(?:/{_SEGMENT})?/orders/?")

_JSON = {"content-type": "application/json"}


class MethodNotAllowedError(OrdersError):
    status = 405
    code = "MethodNotAllowed"


def _response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**_JSON, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def _header(headers: object, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _route(event: Mapping[str, Any]) -> dict[str, Any]:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = http.get("method") if isinstance(http, dict) else None
    path = event.get("rawPath")
    if not isinstance(method, str) or not isinstance(path, str):
        raise ValidationError("not an HTTP API (payload v2) event: rawPath or method missing")
    method = method.upper()
    query = event.get("queryStringParameters")
    query = query if isinstance(query, dict) else {}

    if match := _CUSTOMER_ORDERS.fullmatch(path):
        if method != "GET":
            raise MethodNotAllowedError(f"{method} is not allowed on {path}; use GET")
        list_query = ListOrders(
            customer_id=parse_uuid(match["customer_id"], "customer_id"),
            limit=parse_limit(query.get("limit")),
        )
        orders = service.list_orders(get_database(), list_query)
        metrics.add_metric(name="OrdersListed", unit=MetricUnit.Count, value=1)
        return _response(200, {"orders": [order.as_dict() for order in orders]})

    if _ORDERS.fullmatch(path):
        if method != "POST":
            raise MethodNotAllowedError(f"{method} is not allowed on {path}; use POST")
        header_key = _header(event.get("headers"), "idempotency-key")
        if header_key is not None:
            parse_idempotency_key(header_key, "Idempotency-Key")
        body = parse_json_body(event.get("body"), is_base64=event.get("isBase64Encoded") is True)
        command = parse_create_order(body, header_key=header_key)
        result = service.create_order(get_database(), command)
        metrics.add_metric(
            name="OrdersCreated" if result.created else "OrdersReplayed",
            unit=MetricUnit.Count,
            value=1,
        )
        return _response(
            201 if result.created else 200,
            result.order.as_dict(),
            {"idempotent-replayed": "false" if result.created else "true"},
        )

    if match := _ORDER.fullmatch(path):
        if method != "GET":
            raise MethodNotAllowedError(f"{method} is not allowed on {path}; use GET")
        order = service.get_order(get_database(), parse_uuid(match["order_id"], "order_id"))
        metrics.add_metric(name="OrdersFetched", unit=MetricUnit.Count, value=1)
        return _response(200, order.as_dict())

    raise NotFoundError(f"no route for {method} {path[:200]}")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Entry point ``orders.handlers.api.handler``; never raises, always returns a response."""
    try:
        if not isinstance(event, dict):
            raise ValidationError("the event must be a JSON object")
        return _route(event)
    except Exception as exc:  # every failure becomes a safe HTTP response
        status, body = error_response(exc)
        return _response(status, body)
