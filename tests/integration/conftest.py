"""Session fixtures: a real PostgreSQL and PgBouncer on 127.0.0.1, stopped by PID at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localpg import (
    LocalPgBouncer,
    LocalPostgres,
    MissingBinaryError,
    find_pg_bindir,
    find_pgbouncer,
)

# Like a small RDS instance (t4g.micro has roughly 80-90).
MAX_CONNECTIONS = 100
# PgBouncer's server-connection ceiling, standing in for the proxy's MaxConnectionsPercent share.
POOL_SIZE = 20


def require_local_servers(*, replica: bool = False) -> None:
    """Skip locally when PostgreSQL/PgBouncer (and, for a replica, pg_basebackup) are missing;
    in CI fail loudly instead."""
    try:
        find_pg_bindir(tools=("pg_basebackup",) if replica else ())
        find_pgbouncer()
    except MissingBinaryError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and a required binary is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    require_local_servers()
    with LocalPostgres(max_connections=MAX_CONNECTIONS) as server:
        yield server


@pytest.fixture(scope="session")
def pgbouncer(postgres: LocalPostgres) -> Iterator[LocalPgBouncer]:
    require_local_servers()
    with LocalPgBouncer(postgres, pool_size=POOL_SIZE, pool_mode="transaction") as bouncer:
        yield bouncer
