"""Throwaway PostgreSQL and PgBouncer servers on 127.0.0.1 for the tests and the burst lab."""

from localpg.servers import (
    LocalPgBouncer,
    LocalPostgres,
    MissingBinaryError,
    find_pg_bindir,
    find_pgbouncer,
)

__all__ = [
    "LocalPgBouncer",
    "LocalPostgres",
    "MissingBinaryError",
    "find_pg_bindir",
    "find_pgbouncer",
]
