"""Unit-test setup: no AWS, no database; every test here is marked `lambdas`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "orders")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrdersTest")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lambdas/" in item.nodeid:
            item.add_marker(pytest.mark.lambdas)


@pytest.fixture(autouse=True)
def _reset_runtime() -> Iterator[None]:
    from orders import runtime  # noqa: PLC0415

    runtime.set_database(None)
    yield
    runtime.set_database(None)
