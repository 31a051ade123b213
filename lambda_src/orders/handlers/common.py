"""Shared handler plumbing: map exceptions to safe status codes and messages."""

from __future__ import annotations

from typing import Any

from orders import contract
from orders.errors import DatabaseError, OrdersError, SettingsError
from orders.observability import MetricUnit, logger, metrics


def error_response(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and body for ``exc``; server-side details go to the log, never to the caller."""
    if isinstance(exc, DatabaseError):
        # The driver's error (SQL, SQLSTATE) is the chained cause: logged, never returned.
        logger.error("database error (sqlstate=%s)", exc.sqlstate, exc_info=exc)
        status, code, message = exc.status, exc.code, exc.message
    elif isinstance(exc, OrdersError):
        if exc.status >= 500:
            logger.warning("request failed: %s", exc.message, exc_info=exc)
        else:
            logger.info("request rejected: %s", exc.message)
        status, code, message = exc.status, exc.code, exc.message
    elif isinstance(exc, SettingsError):
        logger.error("function misconfigured: %s", exc)
        status, code, message = 500, "InternalError", "the function is misconfigured"
    else:
        logger.error("unexpected error", exc_info=exc)
        status, code, message = 500, "InternalError", "internal error"
    metrics.add_metric(
        name=contract.CLIENT_ERRORS_METRIC if status < 500 else contract.SERVER_ERRORS_METRIC,
        unit=MetricUnit.Count,
        value=1,
    )
    return status, {"error": {"code": code, "message": message}}
