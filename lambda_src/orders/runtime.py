"""Per-environment state: the settings and the database, built lazily on first use."""

from __future__ import annotations

from orders.db import Database, IamTokenProvider
from orders.settings import DbSettings

_database: Database | None = None


def get_database() -> Database:
    """Return this environment's Database, building settings and token source on first call.

    Nothing connects here: the connection opens on the first query and is reused while warm.
    """
    global _database  # noqa: PLW0603  # one per execution environment by design
    if _database is None:
        settings = DbSettings.from_env()
        _database = Database(
            settings,
            IamTokenProvider(
                host=settings.host, port=settings.port, user=settings.user, region=settings.region
            ),
        )
    return _database


def set_database(database: Database | None) -> None:
    """Install a Database (tests, local runs with a password token source) or reset to lazy."""
    global _database  # noqa: PLW0603
    if _database is not None and _database is not database:
        _database.close()
    _database = database
