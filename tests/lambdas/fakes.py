"""Test doubles shared by the unit and integration tests: Lambda context, tokens, connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from orders.settings import DbSettings


@dataclass
class LambdaContext:
    function_name: str = "orders-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-test"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/orders-test"
    log_stream_name: str = "2026/01/01/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class FakeTokenProvider:
    """Hands out token-1, token-2, ... so tests can see that each connect got a fresh one."""

    issued: list[str] = field(default_factory=list)
    fail: bool = False

    def __call__(self) -> str:
        if self.fail:
            raise RuntimeError("no credentials")
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        return token


@dataclass
class FakeConnection:
    """Just enough of a psycopg connection for the connection layer: closed/broken/close."""

    password: str
    closed: bool = False
    broken: bool = False
    used: int = 0

    def close(self) -> None:
        self.closed = True

    def die(self) -> None:
        """What psycopg does when the socket turns out to be dead."""
        self.closed = True
        self.broken = True


@dataclass
class FakeConnectionFactory:
    """Opens FakeConnections; ``failures`` is a queue of exceptions to raise on connect instead."""

    opened: list[FakeConnection] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def __call__(self, settings: DbSettings, password: str) -> Any:
        if self.failures:
            raise self.failures.pop(0)
        conn = FakeConnection(password=password)
        self.opened.append(conn)
        return conn


def db_settings(**overrides: Any) -> DbSettings:
    env = {
        "DB_HOST": "proxy.example.internal",
        "DB_PORT": "5432",
        "DB_NAME": "orders",
        "DB_USER": "orders_app",
        "DB_CONNECT_TIMEOUT_S": "2",
        "AWS_REGION": "eu-west-1",
        **overrides,
    }
    return DbSettings.from_env(env)


def dropping(times: int, result: Any = "ok") -> Callable[[Any], Any]:
    """An operation whose first ``times`` calls find the connection dead (like after a failover)."""
    calls: Iterator[int] = iter(range(10_000))

    def operation(conn: Any) -> Any:
        conn.used += 1
        if next(calls) < times:
            conn.die()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return result

    return operation
