"""How `make test` spreads the suite over pytest-xdist workers (`--dist loadgroup`).

A worker builds each fixture it needs for itself, so what a group shares decides what is built
once: the tests that read a costly shared fixture (the session's synthesized apps, one drill run)
form one group, and every other test stays with its module, whose module-scoped fixtures (a
PostgreSQL, a forked copy of the repository, a bench run) are then built once too. Groups run in
parallel; within a group the order is the usual one. Without xdist the markers do nothing.
"""

from __future__ import annotations

import pytest

# Costly fixtures shared beyond one module, in the order a test that reads two is grouped by, each
# with the parameter that selects one of its values (a group per value: one environment's app,
# one fault's drill run) or None. `postgres` is the integration tests' server: they count its
# connections, so they share it as in a serial run.
SHARED_FIXTURES: dict[str, str | None] = {
    "shipped_apps": None,
    "synthesized": None,
    "shipped": "shipped_env",
    "synth": "env_name",
    "secrets_mode": None,
    "postgres": None,
    "drill": "drill",
}


def xdist_group(item: pytest.Item) -> str:
    """The group a collected test runs in: its costliest shared fixture, else its module."""
    names = getattr(item, "fixturenames", ())
    for fixture, param_name in SHARED_FIXTURES.items():
        if fixture in names:
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            param = params.get(param_name) if param_name else None
            # no "]" at the end: xdist reads a nodeid ending in "]" as one without a group
            return fixture if param is None else f"{fixture}:{param}"
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
