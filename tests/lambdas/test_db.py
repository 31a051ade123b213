"""Connection layer: lazy connect, fresh token per connect, one retry only where it is safe."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from orders import db as db_module
from orders.db import Database, IamTokenProvider, connect_psycopg, is_connection_lost
from orders.errors import DatabaseError, DatabaseTimeoutError, DatabaseUnavailableError
from orders.settings import BUNDLED_CA
from tests.lambdas.fakes import (
    FakeConnection,
    FakeConnectionFactory,
    FakeTokenProvider,
    db_settings,
    dropping,
)


@pytest.fixture
def tokens() -> FakeTokenProvider:
    return FakeTokenProvider()


@pytest.fixture
def factory() -> FakeConnectionFactory:
    return FakeConnectionFactory()


@pytest.fixture
def database(tokens: FakeTokenProvider, factory: FakeConnectionFactory) -> Database:
    return Database(db_settings(), tokens, factory)


def test_creating_a_database_opens_no_connection_and_signs_no_token(
    database: Database, tokens: FakeTokenProvider, factory: FakeConnectionFactory
) -> None:
    assert not database.connected
    assert tokens.issued == []
    assert factory.opened == []


def test_importing_the_handlers_opens_nothing_and_keeps_heavy_modules_off_the_cold_path() -> None:
    # As inside Lambda (LAMBDA_TASK_ROOT set): no tracing SDK is imported whatever the stack's
    # tracing setting, since Lambda active tracing needs none in the function.
    code = (
        "import sys, orders.handlers.api, orders.handlers.direct, orders.handlers.migrate,"
        " orders.runtime as r;"
        "assert r._database is None;"
        "heavy = ('botocore.session', 'botocore.client', 'boto3', 'yoyo', 'aws_xray_sdk');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"LAMBDA_TASK_ROOT": "/var/task", "PATH": ""},
    )
    assert out.stdout.strip() == ""


def test_connection_is_opened_on_first_use_and_reused_while_warm(
    database: Database, factory: FakeConnectionFactory
) -> None:
    assert database.run(lambda conn: "first", retry_safe=True) == "first"
    assert database.run(lambda conn: "second", retry_safe=True) == "second"
    assert len(factory.opened) == 1
    assert database.connects == 1


def test_every_connect_uses_a_newly_issued_token(
    database: Database, tokens: FakeTokenProvider, factory: FakeConnectionFactory
) -> None:
    database.run(lambda conn: None, retry_safe=True)
    database.close()
    database.run(lambda conn: None, retry_safe=True)
    assert [conn.password for conn in factory.opened] == ["token-1", "token-2"]
    assert tokens.issued == ["token-1", "token-2"]


def test_dropped_connection_is_retried_once_on_a_new_connection_with_a_new_token(
    database: Database, factory: FakeConnectionFactory
) -> None:
    database.run(lambda conn: None, retry_safe=True)  # warm: connected with token-1
    assert database.run(dropping(1), retry_safe=True) == "ok"
    first, second = factory.opened
    assert first.closed
    assert first.broken
    assert second.password == "token-2"
    assert not second.closed
    assert database.retries == 1


def test_dropped_connection_is_not_retried_for_an_operation_that_is_not_retry_safe(
    database: Database, factory: FakeConnectionFactory
) -> None:
    with pytest.raises(DatabaseUnavailableError, match="connection was lost"):
        database.run(dropping(1), retry_safe=False)
    assert len(factory.opened) == 1
    assert not database.connected
    # The next request reconnects normally.
    assert database.run(lambda conn: "ok", retry_safe=False) == "ok"
    assert factory.opened[1].password == "token-2"


def test_connection_dropped_twice_gives_service_unavailable_without_a_third_attempt(
    database: Database, factory: FakeConnectionFactory
) -> None:
    with pytest.raises(DatabaseUnavailableError):
        database.run(dropping(2), retry_safe=True)
    assert len(factory.opened) == 2
    assert not database.connected


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UniqueViolation("duplicate key"),
        psycopg.errors.UndefinedTable("no such table"),
        psycopg.errors.InsufficientPrivilege("permission denied"),
    ],
    ids=["unique-violation", "undefined-table", "insufficient-privilege"],
)
def test_statement_errors_on_a_live_connection_are_not_retried(
    database: Database, factory: FakeConnectionFactory, error: psycopg.Error
) -> None:
    calls = []

    def operation(conn: Any) -> None:
        calls.append(conn)
        raise error

    # THEN the driver's error does not leave the connection layer: a DatabaseError (500, safe
    # message) with the SQLSTATE for the log, and the driver's error as its cause
    with pytest.raises(DatabaseError) as caught:
        database.run(operation, retry_safe=True)
    assert caught.value.sqlstate == error.sqlstate
    assert caught.value.sqlstate is not None
    assert caught.value.__cause__ is error
    assert (caught.value.status, caught.value.message) == (500, "internal error")
    assert len(calls) == 1
    assert len(factory.opened) == 1
    assert database.connected, "a failed statement must not throw the connection away"


def test_a_statement_error_after_the_retry_is_translated_too(
    database: Database, factory: FakeConnectionFactory
) -> None:
    calls = []

    def operation(conn: Any) -> None:
        calls.append(conn)
        if len(calls) == 1:
            conn.die()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        raise psycopg.errors.UndefinedTable("no such table")

    with pytest.raises(DatabaseError) as caught:
        database.run(operation, retry_safe=True)
    assert caught.value.sqlstate == "42P01"
    assert len(factory.opened) == 2
    assert database.connected


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.QueryCanceled("statement timeout"), psycopg.errors.LockNotAvailable("lock")],
    ids=["statement-timeout", "lock-timeout"],
)
def test_server_side_timeouts_become_a_timeout_error_and_are_not_retried(
    database: Database, factory: FakeConnectionFactory, error: psycopg.Error
) -> None:
    calls = []

    def operation(conn: Any) -> None:
        calls.append(conn)
        raise error

    with pytest.raises(DatabaseTimeoutError):
        database.run(operation, retry_safe=True)
    assert len(calls) == 1
    assert len(factory.opened) == 1


def test_terminated_backend_is_recognised_as_a_lost_connection() -> None:
    assert is_connection_lost(None, psycopg.errors.AdminShutdown("terminating connection"))
    assert is_connection_lost(None, psycopg.OperationalError("SSL SYSCALL error: EOF detected"))
    assert is_connection_lost(None, psycopg.InterfaceError("the connection is closed"))
    assert is_connection_lost(FakeConnection("x", closed=True, broken=True), ValueError())  # type: ignore[arg-type]
    assert not is_connection_lost(None, psycopg.errors.QueryCanceled("statement timeout"))
    assert not is_connection_lost(None, psycopg.errors.UniqueViolation("duplicate"))


def test_unreachable_database_fails_once_with_a_clear_error_and_no_retry(
    tokens: FakeTokenProvider, factory: FakeConnectionFactory
) -> None:
    factory.failures.append(psycopg.OperationalError("connection timeout expired"))
    database = Database(db_settings(), tokens, factory)
    with pytest.raises(DatabaseUnavailableError, match="not reachable"):
        database.run(lambda conn: "never", retry_safe=True)
    assert tokens.issued == ["token-1"]
    assert factory.opened == []


def test_token_provider_failure_is_reported_as_unavailable(factory: FakeConnectionFactory) -> None:
    database = Database(db_settings(), FakeTokenProvider(fail=True), factory)
    with pytest.raises(DatabaseUnavailableError, match="auth token"):
        database.run(lambda conn: None, retry_safe=True)
    assert factory.opened == []


def test_psycopg_connection_is_pinning_safe_tls_verified_and_has_a_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured: dict[str, Any] = {}

    def fake_connect(**kwargs: Any) -> str:
        captured.update(kwargs)
        return "conn"

    monkeypatch.setattr(db_module.psycopg.Connection, "connect", fake_connect)
    settings = db_settings(DB_CONNECT_TIMEOUT_S="3")
    assert connect_psycopg(settings, "signed-token") == "conn"
    assert captured["prepare_threshold"] is None
    assert captured["autocommit"] is True
    assert captured["sslmode"] == "verify-full"
    assert captured["sslrootcert"] == str(BUNDLED_CA)
    assert captured["connect_timeout"] == 3
    assert captured["password"] == "signed-token"
    assert captured["host"] == "proxy.example.internal"
    assert "options" not in captured, "RDS Proxy rejects startup options"


def test_a_silent_server_is_detected_within_seconds_not_at_the_lambda_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured: dict[str, Any] = {}
    monkeypatch.setattr(
        db_module.psycopg.Connection, "connect", lambda **kwargs: captured.update(kwargs)
    )
    connect_psycopg(db_settings(), "signed-token")
    # GIVEN the libpq socket options THEN a vanished peer is declared dead well inside the
    # 12 s function timeout (keepalive idle + count x interval), and unacknowledged sends fail
    assert captured["keepalives"] == 1
    detect_s = (
        captured["keepalives_idle"] + captured["keepalives_count"] * captured["keepalives_interval"]
    )
    assert detect_s <= 5
    assert captured["tcp_user_timeout"] <= 5000


def test_iam_token_is_signed_for_the_proxy_endpoint_and_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    provider = IamTokenProvider(
        host="proxy.example.internal", port=5432, user="orders_app", region="eu-west-1"
    )
    token = provider()
    assert token.startswith("proxy.example.internal:5432/?Action=connect&DBUser=orders_app")
    assert "X-Amz-Credential=AKIDEXAMPLE%2F" in token
    assert "%2Feu-west-1%2Frds-db%2Faws4_request" in token
    assert "X-Amz-Expires=900" in token


def test_iam_token_is_byte_for_byte_what_botocores_rds_signer_produces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime  # noqa: PLC0415

    import botocore.auth  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session/token+with=chars")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    frozen = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: frozen)
    host, port, user = "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com", 5432, "orders_app"
    client = botocore.session.get_session().create_client("rds", region_name="eu-west-1")
    expected = client.generate_db_auth_token(
        DBHostname=host, Port=port, DBUsername=user, Region="eu-west-1"
    )
    ours = IamTokenProvider(host=host, port=port, user=user, region="eu-west-1")()
    assert ours == expected


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a proxy or DB that hangs."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_database_that_never_answers_fails_fast_within_the_connect_timeout(
    silent_server: int,
) -> None:
    settings = db_settings(
        DB_HOST="127.0.0.1", DB_PORT=str(silent_server), DB_CONNECT_TIMEOUT_S="2"
    )
    database = Database(settings, FakeTokenProvider())
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match="not reachable"):
        database.run(lambda conn: None, retry_safe=True)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f}s with connect_timeout=2"
