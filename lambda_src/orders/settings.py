"""Frozen settings dataclasses built once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orders.errors import SettingsError

BUNDLED_CA = Path(__file__).resolve().parent / "certs" / "AmazonRootCA1.pem"
# Not in git by default: `make rds-ca` downloads it (this build network cannot). With it, the
# migration verifies the instance's RDS CA certificate (sslmode=verify-full).
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-global-bundle.pem"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_SSL_MODES: tuple[str, ...] = (
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
)
AuthMode = Literal["iam", "secrets"]


def _required(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise SettingsError(f"{key} is required and must not be empty")
    return value


def _int(env: Mapping[str, str], key: str, default: int | None, low: int, high: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        if default is None:
            raise SettingsError(f"{key} is required (an integer from {low} to {high})")
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not an integer ({low}..{high})") from None
    if not low <= value <= high:
        raise SettingsError(f"{key}={value} is out of range ({low}..{high})")
    return value


def _sslmode(env: Mapping[str, str], default: SslMode) -> SslMode:
    raw = env.get("DB_SSLMODE", "").strip() or default
    if raw not in _SSL_MODES:
        raise SettingsError(f"DB_SSLMODE={raw!r} is not one of {', '.join(_SSL_MODES)}")
    return raw  # type: ignore[return-value]  # checked against _SSL_MODES above


def _sslrootcert(env: Mapping[str, str], default: Path | None) -> Path | None:
    raw = env.get("DB_SSLROOTCERT", "").strip()
    path = Path(raw) if raw else default
    if path is not None and not path.is_file():
        raise SettingsError(f"DB_SSLROOTCERT={str(path)!r} is not a readable file")
    return path


def rds_ca_bundle() -> Path | None:
    """The RDS CA bundle if `make rds-ca` put it in the package, else None."""
    if not RDS_CA_BUNDLE.is_file():
        return None
    if b"-----BEGIN CERTIFICATE-----" not in RDS_CA_BUNDLE.read_bytes():
        raise SettingsError(
            f"{RDS_CA_BUNDLE} holds no PEM certificate; run `make rds-ca` again or delete it"
        )
    return RDS_CA_BUNDLE


@dataclass(frozen=True, slots=True)
class DbSettings:
    """Where and how the functions connect: the proxy endpoint, TLS and the connect timeout."""

    host: str
    port: int
    dbname: str
    user: str
    connect_timeout_s: int
    sslmode: SslMode
    sslrootcert: Path | None
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbSettings:
        env = os.environ if env is None else env
        return cls(
            host=_required(env, "DB_HOST"),
            port=_int(env, "DB_PORT", 5432, 1, 65535),
            dbname=_required(env, "DB_NAME"),
            user=_required(env, "DB_USER"),
            connect_timeout_s=_int(env, "DB_CONNECT_TIMEOUT_S", 5, 1, 60),
            sslmode=_sslmode(env, "verify-full"),
            sslrootcert=_sslrootcert(env, BUNDLED_CA),
            region=env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )


@dataclass(frozen=True, slots=True)
class MigrationSettings:
    """What the deploy-time migration needs: instance endpoint, admin secret, app role."""

    host: str
    port: int
    dbname: str
    admin_secret_arn: str
    app_user: str
    auth_mode: AuthMode
    app_user_secret_arn: str | None
    statement_timeout_ms: int
    lock_timeout_ms: int
    idle_in_transaction_timeout_ms: int
    connect_timeout_s: int
    sslmode: SslMode
    sslrootcert: Path | None
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MigrationSettings:
        env = os.environ if env is None else env
        auth_mode = _required(env, "DB_AUTH_MODE").lower()
        if auth_mode not in ("iam", "secrets"):
            raise SettingsError(f"DB_AUTH_MODE={auth_mode!r} is not one of iam, secrets")
        app_secret = env.get("APP_USER_SECRET_ARN", "").strip() or None
        if auth_mode == "secrets" and app_secret is None:
            raise SettingsError("APP_USER_SECRET_ARN is required when DB_AUTH_MODE=secrets")
        app_user = _required(env, "APP_DB_USER")
        if not app_user.replace("_", "").isalnum() or len(app_user) > 63:
            raise SettingsError(
                f"APP_DB_USER={app_user!r} must be 1..63 letters, digits or underscores"
            )
        # The instance endpoint presents an RDS CA certificate, not Amazon Root CA 1 (which
        # signs the proxy's ACM certificate): verify-full needs the RDS CA bundle (DB_SSLROOTCERT
        # or the one `make rds-ca` bundles); without one, encrypted but unverified (require).
        sslrootcert = _sslrootcert(env, None) or rds_ca_bundle()
        return cls(
            host=_required(env, "DB_HOST"),
            port=_int(env, "DB_PORT", 5432, 1, 65535),
            dbname=_required(env, "DB_NAME"),
            admin_secret_arn=_required(env, "DB_ADMIN_SECRET_ARN"),
            app_user=app_user,
            auth_mode=auth_mode,  # type: ignore[arg-type]  # checked above
            app_user_secret_arn=app_secret,
            statement_timeout_ms=_int(env, "APP_STATEMENT_TIMEOUT_MS", 5000, 1, 900_000),
            lock_timeout_ms=_int(env, "APP_LOCK_TIMEOUT_MS", 2000, 1, 900_000),
            idle_in_transaction_timeout_ms=_int(
                env, "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10_000, 1, 3_600_000
            ),
            connect_timeout_s=_int(env, "DB_CONNECT_TIMEOUT_S", 5, 1, 60),
            sslmode=_sslmode(env, "verify-full" if sslrootcert else "require"),
            sslrootcert=sslrootcert,
            region=env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
