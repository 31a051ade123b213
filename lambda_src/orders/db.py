"""Proxy-safe connection layer: one lazy connection per environment, fresh IAM token per connect."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import psycopg

from orders.errors import DatabaseError, DatabaseTimeoutError, DatabaseUnavailableError
from orders.observability import MetricUnit, logger, metrics
from orders.settings import DbSettings

T = TypeVar("T")
Connection = psycopg.Connection[Any]

# SQLSTATEs meaning "this connection is gone": class 08 (connection exception) plus the
# shutdown codes a terminated backend reports (57P01 is pg_terminate_backend / admin shutdown).
# 57014 (query_canceled, e.g. statement_timeout) is deliberately absent: it must not be retried.
_CONNECTION_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


class TokenProvider(Protocol):
    """Returns the password for a new connection; called on every (re)connect, never cached."""

    def __call__(self) -> str: ...


class ConnectionFactory(Protocol):
    """Opens one connection with the given password (injectable so tests can fail on purpose)."""

    def __call__(self, settings: DbSettings, password: str) -> Connection: ...


@dataclass
class IamTokenProvider:
    """Signs an RDS IAM auth token (local SigV4 presign, no network call) for the proxy endpoint.

    Equivalent to botocore's ``rds_client.generate_db_auth_token`` (a unit test compares the
    two byte for byte) without building an RDS client: that loads the whole RDS service model,
    ~0.13 s on the first request of every environment. botocore is imported on the first
    connect, not at import. Credentials are re-read (and refreshed if needed) for every token.
    """

    host: str
    port: int
    user: str
    region: str
    expires_in: int = 900
    _credentials: Any = field(default=None, init=False, repr=False)

    def __call__(self) -> str:
        # Deliberately off the import path: only the first connect pays for botocore.
        from botocore.auth import SigV4QueryAuth  # noqa: PLC0415
        from botocore.awsrequest import create_request_object, prepare_request_dict  # noqa: PLC0415

        if self._credentials is None:
            import botocore.session  # noqa: PLC0415

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise RuntimeError("no AWS credentials found to sign an RDS auth token")
        request_dict: dict[str, Any] = {
            "url_path": "/",
            "query_string": "",
            "headers": {},
            "body": {"Action": "connect", "DBUser": self.user},
            "method": "GET",
        }
        # The token is a presigned URL without its scheme; botocore's signer does the same.
        prepare_request_dict(request_dict, f"https://{self.host}:{self.port}")
        request = create_request_object(request_dict)
        SigV4QueryAuth(
            self._credentials.get_frozen_credentials(), "rds-db", self.region, self.expires_in
        ).add_auth(request)
        url: str = request.prepare().url
        return url[len("https://") :]


# A server that vanishes without a TCP reset (failover, AZ loss) would leave a query waiting on
# retransmissions long past the Lambda timeout. Kernel keepalives declare a silent peer dead
# after about idle + count x interval = 5 s (a busy server still answers probes, so a long
# statement is never cut), and tcp_user_timeout fails a send left unacknowledged for 5 s; the
# error then counts as a lost connection and a retry-safe operation gets its one retry.
# These are libpq socket options, not startup parameters: RDS Proxy never sees them.
TCP_LIVENESS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}


def connect_psycopg(settings: DbSettings, password: str) -> Connection:
    """Open a pinning-safe psycopg 3 connection: autocommit, no prepared statements, TLS."""
    kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "dbname": settings.dbname,
        "user": settings.user,
        "password": password,
        "sslmode": settings.sslmode,
        "connect_timeout": settings.connect_timeout_s,
        "application_name": "orders",
        **TCP_LIVENESS,
    }
    if settings.sslrootcert is not None:
        kwargs["sslrootcert"] = str(settings.sslrootcert)
    # prepare_threshold=None: psycopg would otherwise PREPARE after 5 runs and later send
    # DEALLOCATE ALL, both of which pin the client to one server connection in RDS Proxy.
    return psycopg.Connection.connect(autocommit=True, prepare_threshold=None, **kwargs)


def is_connection_lost(conn: Connection | None, exc: BaseException) -> bool:
    """True when ``exc`` means the connection is unusable (as opposed to a failed statement)."""
    if conn is not None and (conn.closed or conn.broken):
        return True
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        if state is None:
            # libpq-level failures ("server closed the connection unexpectedly", EOF) carry no
            # SQLSTATE; a query cancel or a lock timeout always does.
            return True
        return state.startswith("08") or state in _CONNECTION_LOST_STATES
    return False


class Database:
    """One lazily opened connection for this execution environment, with a single safe retry.

    Lambda runs one request at a time per environment, so a pool would only multiply server
    connections; the proxy does the pooling. Nothing is opened until the first ``run``.
    """

    def __init__(
        self,
        settings: DbSettings,
        token_provider: TokenProvider,
        connection_factory: ConnectionFactory = connect_psycopg,
    ) -> None:
        self.settings = settings
        self._token_provider = token_provider
        self._connection_factory = connection_factory
        self._conn: Connection | None = None
        self.connects = 0
        self.retries = 0
        # orders.reads: a read-only endpoint that just failed is skipped until then (monotonic).
        self.skip_until = 0.0

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead socket must not mask the real error
                logger.debug("ignored error while closing a lost connection", exc_info=True)

    def _connect(self) -> Connection:
        try:
            password = self._token_provider()
        except Exception as exc:
            logger.exception("could not obtain a database auth token")
            raise DatabaseUnavailableError("could not obtain a database auth token") from exc
        started = time.monotonic()
        try:
            conn = self._connection_factory(self.settings, password)
        except psycopg.Error as exc:
            elapsed = time.monotonic() - started
            logger.error(
                "could not connect to %s:%s as %s after %.2fs (connect_timeout=%ss): %s",
                self.settings.host,
                self.settings.port,
                self.settings.user,
                elapsed,
                self.settings.connect_timeout_s,
                exc,
            )
            raise DatabaseUnavailableError("the database is not reachable") from exc
        self.connects += 1
        metrics.add_metric(name="DatabaseConnects", unit=MetricUnit.Count, value=1)
        logger.info("connected to the database", extra={"connect_s": time.monotonic() - started})
        return conn

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def run(self, operation: Callable[[Connection], T], *, retry_safe: bool) -> T:
        """Run ``operation`` on the cached connection.

        If the connection turns out to be dead (proxy idle timeout, failover, terminated backend)
        it is discarded, and when ``retry_safe`` the operation runs once more on a new connection
        with a new token. Only reads and idempotent writes may pass ``retry_safe=True``: a write
        whose connection died mid-flight may or may not have committed.

        Driver errors do not leave this method: a lost connection is DatabaseUnavailableError,
        a statement or lock timeout DatabaseTimeoutError, anything else DatabaseError.
        """
        conn = self._connection()
        try:
            return self._attempt(operation, conn)
        except psycopg.Error as exc:
            if not is_connection_lost(conn, exc):
                raise _unexpected(exc) from exc
            self.close()
            if not retry_safe:
                logger.warning("connection lost during a non-retryable operation: %s", exc)
                raise DatabaseUnavailableError("the database connection was lost") from exc
            logger.warning("connection lost (%s); reconnecting with a new token, retrying", exc)
        self.retries += 1
        metrics.add_metric(name="DatabaseReconnectRetries", unit=MetricUnit.Count, value=1)
        conn = self._connection()
        try:
            return self._attempt(operation, conn)
        except psycopg.Error as exc:
            if is_connection_lost(conn, exc):
                self.close()
                raise DatabaseUnavailableError("the database connection was lost") from exc
            raise _unexpected(exc) from exc

    @staticmethod
    def _attempt(operation: Callable[[Connection], T], conn: Connection) -> T:
        try:
            return operation(conn)
        except psycopg.errors.QueryCanceled as exc:
            raise DatabaseTimeoutError("the database did not answer in time") from exc
        except psycopg.errors.LockNotAvailable as exc:
            raise DatabaseTimeoutError("the database did not answer in time") from exc


def _unexpected(exc: psycopg.Error) -> DatabaseError:
    """A driver error on a live connection (SQL error, missing table...): never retried, and
    never shown to the caller; callers above this layer see only orders.errors types."""
    return DatabaseError(getattr(exc, "sqlstate", None))
