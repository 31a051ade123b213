"""HTTP API (payload v2, IAM auth) handler: list a customer's orders, get one, create one."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoRouteError
from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import contract, reads, service
from orders.contract import CREATE_ORDER, GET_ORDER, LIST_CUSTOMER_ORDERS, Route
from orders.errors import NotFoundError, OrdersError, SettingsError, ValidationError
from orders.handlers.common import error_response
from orders.observability import MetricUnit, logger, metrics, tag_entrypoint
from orders.runtime import get_database
from orders.validation import (
    ListOrders,
    parse_create_order,
    parse_idempotency_key,
    parse_json_body,
    parse_limit,
    parse_uuid,
)

# debug=False whatever POWERTOOLS_DEV says: debug mode prints every event (customer data) and
# answers unhandled errors with a traceback.
app = APIGatewayHttpResolver(debug=False)

F = TypeVar("F", bound=Callable[..., Response[Any]])


class MethodNotAllowedError(OrdersError):
    status = 405
    code = "MethodNotAllowed"


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def _paths(route: Route) -> tuple[str, str]:
    """The route's path in resolver syntax, and with a trailing slash (HTTP API passes it as is)."""
    return route.resolver_path, f"{route.resolver_path}/"


def serves(route: Route) -> Callable[[F], F]:
    """Register the decorated function for ``route`` (a route of orders.contract.ROUTES)."""

    def register(function: F) -> F:
        for path in _paths(route):
            app.route(path, [route.method])(function)
        return function

    return register


@serves(LIST_CUSTOMER_ORDERS)
def list_customer_orders(customer_id: str) -> Response[Any]:
    query = ListOrders(
        customer_id=parse_uuid(customer_id, "customer_id"),
        limit=parse_limit(app.current_event.query_string_parameters.get("limit")),
    )
    orders = reads.list_orders(query)
    metrics.add_metric(name="OrdersListed", unit=MetricUnit.Count, value=1)
    return _json(200, {"orders": [order.as_dict() for order in orders]})


@serves(GET_ORDER)
def get_order(order_id: str) -> Response[Any]:
    order = reads.get_order(parse_uuid(order_id, "order_id"))
    metrics.add_metric(name="OrdersFetched", unit=MetricUnit.Count, value=1)
    return _json(200, order.as_dict())


@serves(CREATE_ORDER)
def create_order() -> Response[Any]:
    event = app.current_event
    header_key = event.headers.get("idempotency-key")
    if header_key is not None:
        parse_idempotency_key(header_key, "Idempotency-Key")
    body = parse_json_body(event.body, is_base64=event.is_base64_encoded is True)
    result = service.create_order(get_database(), parse_create_order(body, header_key=header_key))
    metrics.add_metric(
        name="OrdersCreated" if result.created else "OrdersReplayed",
        unit=MetricUnit.Count,
        value=1,
    )
    return _json(
        201 if result.created else 200,
        result.order.as_dict(),
        {"idempotent-replayed": "false" if result.created else "true"},
    )


def _method_not_allowed(allowed: str) -> Callable[..., Response[Any]]:
    def reject(**_path_values: str) -> Response[Any]:
        event = app.current_event
        raise MethodNotAllowedError(
            f"{event.http_method.upper()} is not allowed on {event.raw_path[:200]}; use {allowed}"
        )

    return reject


def _register_method_not_allowed(routes: tuple[Route, ...]) -> None:
    """The resolver answers a known path with an unknown method as "not found"; these routes
    make it a 405 that names the allowed methods, as clients of this API expect."""
    allowed: dict[str, list[str]] = {}
    for route in routes:
        allowed.setdefault(route.path, []).append(route.method)
    for path, methods in allowed.items():
        others = [method for method in contract.HTTP_METHODS if method not in methods]
        reject = _method_not_allowed(", ".join(methods))
        for rule in _paths(Route(methods[0], path)):
            app.route(rule, others, include_in_schema=False)(reject)


_register_method_not_allowed(contract.ROUTES)


def _error(exc: Exception) -> Response[Any]:
    """Every failure becomes a safe JSON error; details go to the log (see error_response)."""
    status, body = error_response(exc)
    return _json(status, body)


# Registered by call: powertools' exception_handler decorator is untyped (mypy --strict).
app.exception_handler([OrdersError, SettingsError, Exception])(_error)


@app.not_found
def _no_route(_: NoRouteError) -> Response[Any]:
    event = app.current_event
    return _error(NotFoundError(f"no route for {event.http_method.upper()} {event.raw_path[:200]}"))


def _check_event(event: object) -> Mapping[str, Any]:
    """Reject what the resolver cannot read (it would raise) with a 400, before routing."""
    if not isinstance(event, dict):
        raise ValidationError("the event must be a JSON object")
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = http.get("method") if isinstance(http, dict) else None
    if not (
        isinstance(method, str)
        and isinstance(event.get("rawPath"), str)
        and isinstance(context, dict)
        and isinstance(context.get("stage", "$default"), str)
    ):
        raise ValidationError("not an HTTP API (payload v2) event: rawPath or method missing")
    headers = event.get("headers")
    if headers is not None and not (
        isinstance(headers, dict) and all(isinstance(value, str) for value in headers.values())
    ):
        raise ValidationError("not an HTTP API (payload v2) event: headers must be strings")
    query = event.get("queryStringParameters")
    if query is not None and not isinstance(query, dict):
        raise ValidationError("not an HTTP API (payload v2) event: bad queryStringParameters")
    # The resolver reads requestContext.stage to strip a named stage from rawPath.
    return {**event, "requestContext": {"stage": "$default", **context}}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Entry point ``orders.handlers.api.handler``; never raises, always returns a response."""
    tag_entrypoint(contract.API)
    try:
        return app.resolve(_check_event(event), context)
    except Exception as exc:  # a malformed event, or a failure outside the resolver's handlers
        status, body = error_response(exc)
        return {
            "statusCode": status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(body, separators=(",", ":")),
            "isBase64Encoded": False,
        }
