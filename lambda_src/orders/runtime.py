"""Per-environment state: the settings and the databases (writer, reader), built lazily."""

from __future__ import annotations

from orders.db import Database, IamTokenProvider
from orders.settings import DbSettings

_database: Database | None = None
_reader: Database | None = None


def _open(settings: DbSettings) -> Database:
    # The IAM token is signed for the host it is presented to: one token source per endpoint.
    return Database(
        settings,
        IamTokenProvider(
            host=settings.host, port=settings.port, user=settings.user, region=settings.region
        ),
    )


def get_database() -> Database:
    """Return this environment's writer Database, building settings and token source on first
    call. Nothing connects here: the connection opens on the first query and is reused while
    warm."""
    global _database  # noqa: PLW0603  # one per execution environment by design
    if _database is None:
        _database = _open(DbSettings.from_env())
    return _database


def get_read_database() -> Database:
    """The Database for reads: the read-only endpoint's when DB_READ_HOST is set (its own lazy
    connection), else the writer's. At most two connections per environment, each opened only
    when used."""
    global _reader  # noqa: PLW0603
    writer = get_database()
    if _reader is None:
        reader_settings = writer.settings.reader()
        _reader = writer if reader_settings is None else _open(reader_settings)
    return _reader


def set_database(database: Database | None, reader: Database | None = None) -> None:
    """Install a writer (and optionally a reader) Database (tests, local runs with a password
    token source), or reset both to lazy."""
    global _database, _reader
    for old in (_database, _reader):
        if old is not None and old is not database and old is not reader:
            old.close()
    _database, _reader = database, reader
