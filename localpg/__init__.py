"""Throwaway PostgreSQL (primary, hot standby) and PgBouncer on loopback for tests and lab."""

from localpg.servers import (
    READER_LOOPBACK,
    LocalPgBouncer,
    LocalPostgres,
    LocalReplica,
    MissingBinaryError,
    find_pg_bindir,
    find_pgbouncer,
)

__all__ = [
    "READER_LOOPBACK",
    "LocalPgBouncer",
    "LocalPostgres",
    "LocalReplica",
    "MissingBinaryError",
    "find_pg_bindir",
    "find_pgbouncer",
]
