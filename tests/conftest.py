"""How `make test` spreads the suite over pytest-xdist workers (`--dist loadgroup`).

A worker builds each fixture it needs for itself, so what a group shares decides what is built
once: the tests that read a costly shared fixture (the session's synthesized apps, one drill run)
form one group, and every other test stays with its module, whose module-scoped fixtures (a
PostgreSQL, a forked copy of the repository, a bench run) are then built once too. Groups run in
parallel; within a group the order is the usual one. Without xdist the markers do nothing.
"""

from __future__ import annotations

import pytest

# Costly fixtures shared beyond one module, in the order a test that reads two is grouped by.
# A parametrized one (the drill: one run per fault) gives one group per parameter.
SHARED_FIXTURES = ("shipped_apps", "synthesized", "secrets_mode", "drill")


def xdist_group(item: pytest.Item) -> str:
    """The group a collected test runs in: its costliest shared fixture, else its module."""
    names = getattr(item, "fixturenames", ())
    for fixture in SHARED_FIXTURES:
        if fixture in names:
            callspec = getattr(item, "callspec", None)
            param = callspec.params.get(fixture) if callspec is not None else None
            return fixture if param is None else f"{fixture}[{param}]"
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
