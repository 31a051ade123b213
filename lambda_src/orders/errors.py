"""Error types that handlers turn into client (4xx) or server (5xx) responses."""

from __future__ import annotations


class OrdersError(Exception):
    """Base class for errors with a status code and a message that is safe to show a caller."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(OrdersError):
    """The request is malformed; the message says which field and why."""

    status = 400
    code = "ValidationError"


class NotFoundError(OrdersError):
    """The requested resource does not exist."""

    status = 404
    code = "NotFound"


class ConflictError(OrdersError):
    """The idempotency key was already used for a different request."""

    status = 409
    code = "Conflict"


class DatabaseUnavailableError(OrdersError):
    """The database could not be reached or the connection was lost and could not be retried."""

    status = 503
    code = "ServiceUnavailable"


class DatabaseError(OrdersError):
    """The driver failed for a reason the caller cannot fix (an SQL error, a broken schema).

    The caller sees a generic 500; the SQLSTATE (and, through the exception chain, the driver's
    message) goes to the log only.
    """

    status = 500
    code = "InternalError"

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("internal error")
        self.sqlstate = sqlstate


class DatabaseTimeoutError(OrdersError):
    """A statement or lock wait hit the server-side timeout of the app role."""

    status = 503
    code = "ServiceUnavailable"


class SettingsError(ValueError):
    """An environment variable is missing or invalid; the message names the key and the value."""
