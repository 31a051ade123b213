"""HTTP API (payload v2) events for the integration tests."""

from __future__ import annotations

import json
from typing import Any


def http(method: str, path: str, body: Any = None, key: str | None = None) -> dict[str, Any]:
    """A minimal payload v2 event: what the api handler needs to route and parse."""
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {"idempotency-key": key} if key else {},
        "requestContext": {"http": {"method": method}},
        "body": None if body is None else json.dumps(body),
    }
