"""Direct-invoke handler: {"action": <one of orders.contract.DIRECT_ACTIONS>, ...}."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import contract, reads, service
from orders.errors import ValidationError
from orders.handlers.common import error_response
from orders.observability import MetricUnit, logger, metrics, tag_entrypoint
from orders.runtime import get_database
from orders.validation import ListOrders, field_names, parse_create_order, parse_limit, parse_uuid


def _only(event: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(event) - allowed - {"action"}
    if unknown:
        raise ValidationError(f"unknown fields: {field_names(unknown)}")


def _create(event: Mapping[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in event.items() if key != "action"}
    result = service.create_order(get_database(), parse_create_order(body))
    metrics.add_metric(
        name="OrdersCreated" if result.created else "OrdersReplayed", unit=MetricUnit.Count, value=1
    )
    return {
        "statusCode": 201 if result.created else 200,
        "replayed": not result.created,
        "body": result.order.as_dict(),
    }


def _get(event: Mapping[str, Any]) -> dict[str, Any]:
    _only(event, {"order_id"})
    order = reads.get_order(parse_uuid(event.get("order_id"), "order_id"))
    metrics.add_metric(name="OrdersFetched", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": order.as_dict()}


def _list(event: Mapping[str, Any]) -> dict[str, Any]:
    _only(event, {"customer_id", "limit"})
    query = ListOrders(
        customer_id=parse_uuid(event.get("customer_id"), "customer_id"),
        limit=parse_limit(event.get("limit")),
    )
    orders = reads.list_orders(query)
    metrics.add_metric(name="OrdersListed", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": {"orders": [order.as_dict() for order in orders]}}


def _check_endpoints(event: Mapping[str, Any]) -> dict[str, Any]:
    _only(event, set())
    return {"statusCode": 200, "body": reads.check_endpoints()}


_ACTIONS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    contract.CREATE_ORDER_ACTION: _create,
    contract.GET_ORDER_ACTION: _get,
    contract.LIST_ORDERS_ACTION: _list,
    contract.CHECK_ENDPOINTS_ACTION: _check_endpoints,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Entry point ``orders.handlers.direct.handler``; errors come back as statusCode + error."""
    tag_entrypoint(contract.DIRECT)
    try:
        if not isinstance(event, dict):
            raise ValidationError("the event must be a JSON object")
        action = event.get("action")
        if not isinstance(action, str) or action not in _ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(sorted(_ACTIONS))}")
        logger.append_keys(action=action)
        return _ACTIONS[action](event)
    except Exception as exc:  # a direct caller gets a structured error, not a trace
        status, body = error_response(exc)
        return {"statusCode": status, "body": body}
