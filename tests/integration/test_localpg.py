"""The local stand-ins behave like what they model: PostgreSQL runs out, the pooler caps."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from localpg import LocalPgBouncer, LocalPostgres
from localpg.servers import pid_alive
from tests.integration.conftest import MAX_CONNECTIONS, POOL_SIZE, require_local_servers

SUPERUSER_RESERVED = 3  # PostgreSQL's default superuser_reserved_connections
TOO_MANY = ("too many clients already", "remaining connection slots are reserved")


@pytest.fixture(scope="module")
def burst_role(postgres: LocalPostgres) -> Iterator[tuple[str, str]]:
    name, password = "burst_" + secrets.token_hex(4), secrets.token_urlsafe(12)
    postgres.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    yield name, password
    postgres.execute(f"DROP ROLE {name}")


def test_direct_clients_beyond_max_connections_get_too_many_clients(
    postgres: LocalPostgres, burst_role: tuple[str, str]
) -> None:
    # GIVEN more direct clients than max_connections, each holding its connection
    user, password = burst_role
    attempts = MAX_CONNECTIONS + 20
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    refused: list[str] = []
    try:
        for _ in range(attempts):
            try:
                held.append(
                    psycopg.connect(
                        postgres.conninfo(user=user, password=password), autocommit=True
                    )
                )
            except psycopg.OperationalError as exc:
                refused.append(str(exc))
    finally:
        for conn in held:
            conn.close()
    # THEN everyone past the non-superuser share is refused with the seed's error
    assert len(held) == MAX_CONNECTIONS - SUPERUSER_RESERVED
    assert len(refused) == attempts - len(held)
    # (past max_connections - superuser_reserved_connections PostgreSQL says "remaining connection
    # slots are reserved"; past max_connections "sorry, too many clients already": both 53300)
    assert all(any(text in message for text in TOO_MANY) for message in refused)


def test_pooler_serves_many_more_clients_than_its_server_connections(
    postgres: LocalPostgres, pgbouncer: LocalPgBouncer, burst_role: tuple[str, str]
) -> None:
    # GIVEN 3x max_connections concurrent clients through the pooler
    user, password = burst_role
    clients = MAX_CONNECTIONS * 3
    barrier = threading.Barrier(clients, timeout=60)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        with postgres.connect() as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (user,)
                ).fetchone()
                peak = max(peak, int(row[0]) if row else 0)
                stop.wait(0.01)

    def client(_: int) -> int:
        with psycopg.connect(
            pgbouncer.conninfo(user=user, password=password),
            autocommit=True,
            prepare_threshold=None,
        ) as conn:
            barrier.wait()
            row = conn.execute("SELECT 1 FROM pg_sleep(0.02)").fetchone()
            return int(row[0]) if row else 0

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(client, range(clients)))
    finally:
        stop.set()
        sampler.join()
    # THEN every client succeeds and the database never sees more than the pool
    assert results == [1] * clients
    assert 0 < peak <= POOL_SIZE


def test_direct_connections_without_tls_are_rejected(
    postgres: LocalPostgres, burst_role: tuple[str, str]
) -> None:
    user, password = burst_role
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(postgres.conninfo(user=user, password=password, sslmode="disable"))


def test_pooler_rejects_a_client_that_does_not_trust_its_certificate(
    pgbouncer: LocalPgBouncer, burst_role: tuple[str, str], tmp_path: os.PathLike[str]
) -> None:
    # verify-full against the wrong root (the system bundle) must fail: TLS is really verified.
    user, password = burst_role
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(
            pgbouncer.conninfo(
                user=user, password=password, sslrootcert="/etc/ssl/certs/ca-certificates.crt"
            )
        )


def test_servers_stop_by_pid_and_leave_nothing_behind() -> None:
    require_local_servers()
    with LocalPostgres(max_connections=10) as pg, LocalPgBouncer(pg, pool_size=2) as bouncer:
        pids = [pg.pid, bouncer.pid]
        data_dir = pg.data_dir
        assert all(pid is not None for pid in pids)
    assert not any(pid_alive(pid) for pid in pids if pid is not None)
    assert not data_dir.exists()
