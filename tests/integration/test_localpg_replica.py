"""The lab's reader: a hot-standby replica of the local PostgreSQL, a read pool in front of it."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from localpg import READER_LOOPBACK, LocalPgBouncer, LocalPostgres, LocalReplica
from localpg.servers import pid_alive
from orders import contract, migration, reads, runtime
from orders.db import Database, connect_psycopg
from orders.handlers import api, direct
from orders.settings import DbSettings, MigrationSettings
from tests.integration.conftest import require_local_servers
from tests.integration.events import http
from tests.lambdas.fakes import LambdaContext

APPLY_DELAY_MS = 1500
POLL_S = 0.02
CTX = LambdaContext()


@pytest.fixture(scope="module")
def replica(postgres: LocalPostgres) -> Iterator[LocalReplica]:
    require_local_servers(replica=True)
    with LocalReplica(postgres) as server:
        yield server


# Rows of this module's tests (each its own uuid), in the session server's postgres database.
INSERT = "INSERT INTO localpg_replica_rows VALUES (%s)"
SELECT = "SELECT count(*) FROM localpg_replica_rows WHERE id = %s"


@pytest.fixture(scope="module")
def table(postgres: LocalPostgres) -> Iterator[None]:
    postgres.execute("CREATE TABLE IF NOT EXISTS localpg_replica_rows (id uuid PRIMARY KEY)")
    yield
    postgres.execute("DROP TABLE localpg_replica_rows")


def visible_after(server: LocalPostgres, row: uuid.UUID, timeout_s: float) -> float:
    """Seconds until ``row`` is visible on ``server``, polled every 20 ms (fails on timeout)."""
    started = time.monotonic()
    with server.connect() as conn:
        while time.monotonic() - started < timeout_s:
            found = conn.execute(SELECT, (row,)).fetchone()
            if found and found[0]:
                return time.monotonic() - started
            time.sleep(POLL_S)
    pytest.fail(f"row {row} not visible on the {server.name} within {timeout_s} s")


@pytest.mark.usefixtures("table")
def test_a_row_written_on_the_primary_appears_on_the_replica(
    postgres: LocalPostgres, replica: LocalReplica
) -> None:
    assert replica.execute("SELECT pg_is_in_recovery()") == [(True,)]
    assert postgres.execute("SELECT pg_is_in_recovery()") == [(False,)]
    row = uuid.uuid4()
    postgres.execute(INSERT, (row,))
    # No apply delay: streaming delivers it well within a second.
    assert visible_after(replica, row, timeout_s=10) < 1.0


@pytest.mark.usefixtures("table")
def test_the_apply_delay_holds_a_committed_row_back_for_about_the_delay(
    postgres: LocalPostgres,
) -> None:
    require_local_servers(replica=True)
    with LocalReplica(postgres, apply_delay_ms=APPLY_DELAY_MS) as lagging:
        lagging.wait_for_replay()  # the table exists there too
        row = uuid.uuid4()
        postgres.execute(INSERT, (row,))
        elapsed = visible_after(lagging, row, timeout_s=15)
    delay_s = APPLY_DELAY_MS / 1000
    # Not before the delay (minus the poll and commit-timestamp slack), not long after it.
    assert 0.9 * delay_s <= elapsed <= delay_s + 2.0, elapsed


@pytest.mark.usefixtures("table")
def test_the_replica_refuses_writes(replica: LocalReplica) -> None:
    replica.wait_for_replay()
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
        replica.execute(INSERT, (uuid.uuid4(),))


@pytest.mark.usefixtures("table")
def test_a_halted_replica_refuses_connections_and_catches_up_when_resumed(
    postgres: LocalPostgres,
) -> None:
    require_local_servers(replica=True)
    with LocalReplica(postgres) as server:
        old_pid, port = server.pid, server.port
        server.halt()
        assert server.pid is None
        assert old_pid is not None
        assert not pid_alive(old_pid)
        with pytest.raises(psycopg.OperationalError, match="refused"):
            server.connect().close()
        row = uuid.uuid4()
        postgres.execute(INSERT, (row,))  # written while it is down
        server.resume()
        assert server.pid not in (None, old_pid)
        assert server.port == port
        server.wait_for_replay()
        assert server.execute(SELECT, (row,)) == [(1,)]


def _in_recovery(conninfo: str) -> Any:
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Pools:
    """A role made on the primary only, a writer pool and a reader pool on the replica."""

    user: str
    password: str
    writer: LocalPgBouncer
    reader: LocalPgBouncer


@pytest.fixture
def pools(postgres: LocalPostgres, replica: LocalReplica) -> Iterator[Pools]:
    user, password = f"reader_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    postgres.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    replica.wait_for_replay()
    with (
        LocalPgBouncer(postgres, pool_size=2) as writer,
        LocalPgBouncer(replica, pool_size=2, host=READER_LOOPBACK, port=writer.port) as reader,
    ):
        yield Pools(user, password, writer, reader)
    postgres.execute(f"DROP ROLE {user}")


def test_a_read_pool_on_the_replica_logs_in_a_role_created_on_the_primary(pools: Pools) -> None:
    # THEN the reader pool's auth_query finds the role on the replica (roles replicate), and
    # each pool reaches its own server: same port, another loopback address
    user, password, writer, reader = pools.user, pools.password, pools.writer, pools.reader
    assert (reader.host, reader.port) == (READER_LOOPBACK, writer.port)
    assert _in_recovery(writer.conninfo(user=user, password=password)) is False
    assert _in_recovery(reader.conninfo(user=user, password=password, sslmode="verify-ca"))


def test_the_functions_reader_settings_reach_the_replica_with_the_chain_verified(
    postgres: LocalPostgres, pools: Pools
) -> None:
    # GIVEN the functions' writer settings with a read host, as DB_READ_HOST gives them
    user, password, writer, reader = pools.user, pools.password, pools.writer, pools.reader
    settings = DbSettings(host=writer.host, port=writer.port, dbname="postgres", user=user,
                          connect_timeout_s=3, sslmode="verify-full",
                          sslrootcert=Path(postgres.ca_cert_path), region="local",
                          read_host=READER_LOOPBACK)  # fmt: skip
    read_settings = settings.reader()
    assert read_settings is not None
    assert (read_settings.host, read_settings.port) == (reader.host, reader.port)
    # WHEN the runtime connects with them (verify-ca: the reader's address is not on the
    # certificate, like a custom proxy endpoint's name)
    with connect_psycopg(read_settings, password) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert row == (True,)
    # THEN the chain is verified (the system roots refuse it) and only the name is not:
    # verify-full fails on the reader's address, which is why the runtime does not use it
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        _in_recovery(reader.conninfo(user=user, password=password))
    system_roots = "/etc/ssl/certs/ca-certificates.crt"
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        _in_recovery(reader.conninfo(user=user, password=password, sslmode="verify-ca",
                                     sslrootcert=system_roots))  # fmt: skip


def test_check_endpoints_reaches_the_primary_and_the_replica_through_their_pools(
    postgres: LocalPostgres, pools: Pools
) -> None:
    # GIVEN the functions' writer and reader Databases on the two pools (DB_READ_HOST)
    user, password, writer_pool = pools.user, pools.password, pools.writer
    settings = DbSettings(host=writer_pool.host, port=writer_pool.port, dbname="postgres",
                          user=user, connect_timeout_s=3, sslmode="verify-full",
                          sslrootcert=Path(postgres.ca_cert_path), region="local",
                          read_host=READER_LOOPBACK)  # fmt: skip
    reader_settings = settings.reader()
    assert reader_settings is not None
    runtime.set_database(Database(settings, lambda: password),
                         Database(reader_settings, lambda: password))  # fmt: skip
    try:
        # WHEN make smoke's action runs THEN each endpoint answers, the reader from a replica
        answer = direct.handler({"action": contract.CHECK_ENDPOINTS_ACTION}, CTX)
    finally:
        runtime.set_database(None)
    assert answer == {
        "statusCode": 200,
        "body": {
            "writer": {"ok": True, "in_recovery": False},
            "reader": {"ok": True, "in_recovery": True},
        },
    }


def test_the_replica_stops_by_pid_and_leaves_nothing_behind(postgres: LocalPostgres) -> None:
    require_local_servers(replica=True)
    with LocalReplica(postgres) as server:
        pid, data_dir, slot = server.pid, server.data_dir, server.slot
        assert postgres.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ) == [(1,)]
    assert pid is not None
    assert not pid_alive(pid)
    assert not data_dir.exists()
    # The slot would otherwise keep WAL on the primary for ever.
    assert postgres.execute(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ) == [(0,)]


# --- the functions' reads through a lagging replica ----------------------------------------


@pytest.fixture
def orders_db(postgres: LocalPostgres) -> Iterator[tuple[str, str, str]]:
    """(database, app user, password): the functions' schema and role, by their migration."""
    suffix = secrets.token_hex(4)
    dbname, user, password = f"orders_ro_{suffix}", f"orders_ro_{suffix}", secrets.token_urlsafe(16)
    group_existed = bool(
        postgres.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (contract.APP_GROUP_ROLE,))
    )
    postgres.execute(f'CREATE DATABASE "{dbname}"')
    admin = {"username": postgres.superuser, "password": postgres.superuser_password}
    credentials = {"arn:admin": admin, "arn:app": {"username": user, "password": password}}
    env = {
        "DB_HOST": postgres.host, "DB_PORT": str(postgres.port), "DB_NAME": dbname,
        "DB_ADMIN_SECRET_ARN": "arn:admin", "APP_DB_USER": user, "DB_AUTH_MODE": "secrets",
        "APP_USER_SECRET_ARN": "arn:app", "APP_STATEMENT_TIMEOUT_MS": "2000",
        "APP_LOCK_TIMEOUT_MS": "500", "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
        "DB_CONNECT_TIMEOUT_S": "5", "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": str(postgres.ca_cert_path), "AWS_REGION": "eu-west-1",
    }  # fmt: skip
    migration.run(MigrationSettings.from_env(env), credentials.__getitem__)
    yield dbname, user, password
    postgres.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
    postgres.execute(f'DROP ROLE IF EXISTS "{user}"')
    if not group_existed:
        postgres.execute(f'DROP ROLE IF EXISTS "{contract.APP_GROUP_ROLE}"')


class Counted(Database):
    """The functions' Database, counting the statements it ran to completion."""

    answered = 0

    def run(self, operation: Any, *, retry_safe: bool) -> Any:
        result = super().run(operation, retry_safe=retry_safe)
        self.answered += 1
        return result


def _on_replica(replica: LocalReplica, dbname: str, order_id: str) -> int:
    sql = "SELECT count(*) FROM shop.orders WHERE order_id = %s"
    return int(replica.execute(sql, (order_id,), dbname=dbname)[0][0])


def test_the_handlers_read_from_the_replica_and_never_404_their_own_write(
    postgres: LocalPostgres, orders_db: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_local_servers(replica=True)
    # The reader is retried once per skip window (orders.reads); a 1 s window instead of the
    # shipped 5 s lets the return to the replica show in seconds, not in several 5 s windows
    # (tests/lambdas/test_reads.py checks the window itself).
    monkeypatch.setattr(reads, "READER_RETRY_AFTER_S", 1.0)
    dbname, user, password = orders_db
    with (
        LocalReplica(postgres, apply_delay_ms=APPLY_DELAY_MS) as lagging,
        LocalPgBouncer(postgres, pool_size=4, borrow_timeout_s=1) as writer_pool,
        # server_login_retry 1 s (PgBouncer's default pause after a failed login is 15 s)
        LocalPgBouncer(lagging, pool_size=4, borrow_timeout_s=1, host=READER_LOOPBACK,
                       port=writer_pool.port,
                       extra_settings={"server_login_retry": "1"}) as reader_pool,
    ):  # fmt: skip
        lagging.wait_for_replay()
        # GIVEN the functions' settings with DB_READ_HOST, and their two Databases
        settings = DbSettings.from_env({
            "DB_HOST": writer_pool.host, "DB_PORT": str(writer_pool.port), "DB_NAME": dbname,
            "DB_USER": user, "DB_READ_HOST": reader_pool.host, "DB_CONNECT_TIMEOUT_S": "2",
            "DB_SSLROOTCERT": str(postgres.ca_cert_path), "AWS_REGION": "eu-west-1",
        })  # fmt: skip
        reader_settings = settings.reader()
        assert reader_settings is not None
        writer = Counted(settings, lambda: password)
        reader = Counted(reader_settings, lambda: password)
        runtime.set_database(writer, reader)
        try:
            _read_your_write_then_outage(lagging, dbname, writer, reader)
        finally:
            runtime.set_database(None)


def _read_your_write_then_outage(
    lagging: LocalReplica, dbname: str, writer: Counted, reader: Counted
) -> None:
    body = {"customer_id": str(uuid.uuid4()), "idempotency_key": f"ro-{uuid.uuid4()}",
            "items": [{"sku": "RO-1", "quantity": 1, "unit_price_cents": 100}]}  # fmt: skip
    # WHEN a client creates an order and reads it right back
    created = direct.handler({"action": contract.CREATE_ORDER_ACTION, **body}, CTX)
    assert created["statusCode"] == 201, created
    order_id = created["body"]["order_id"]
    assert _on_replica(lagging, dbname, order_id) == 0  # the replica has not applied it yet
    before = (reader.answered, writer.answered)
    fetched = direct.handler({"action": contract.GET_ORDER_ACTION, "order_id": order_id}, CTX)
    # THEN 200, not 404: the reader ran (and missed), the writer answered
    assert fetched["statusCode"] == 200, fetched
    assert (reader.answered, writer.answered) == (before[0] + 1, before[1] + 1)
    # Once the replica has it, the reader alone answers, through the API handler too
    lagging.wait_for_replay()
    assert _on_replica(lagging, dbname, order_id) == 1
    before = (reader.answered, writer.answered)
    answer = api.handler(http("GET", f"/orders/{order_id}"), CTX)
    assert answer["statusCode"] == 200, answer
    assert (reader.answered, writer.answered) == (before[0] + 1, before[1])
    # With the replica down the writer answers; when it is back, the reader does again
    lagging.halt()
    before = (reader.answered, writer.answered)
    down = direct.handler({"action": contract.GET_ORDER_ACTION, "order_id": order_id}, CTX)
    assert down["statusCode"] == 200, down
    assert (reader.answered, writer.answered) == (before[0], before[1] + 1)
    lagging.resume()
    # A bound, not a timing goal: the reader is retried once per skip window, and on two busy
    # CPUs (make test's workers) a restarted standby and PgBouncer's login retry took more than
    # three windows once; a healthy run returns within the first.
    deadline = time.monotonic() + 30
    while reader.answered == before[0] and time.monotonic() < deadline:
        again = direct.handler({"action": contract.GET_ORDER_ACTION, "order_id": order_id}, CTX)
        assert again["statusCode"] == 200, again
        time.sleep(0.2)
    assert reader.answered > before[0], "reads did not return to the replica"
