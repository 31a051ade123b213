"""Frozen settings dataclasses built once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from orders import contract
from orders.errors import SettingsError

BUNDLED_CA = Path(__file__).resolve().parent / "certs" / "AmazonRootCA1.pem"
# Not in git by default: `make rds-ca` downloads it (this build network cannot). With it, the
# migration verifies the instance's RDS CA certificate (sslmode=verify-full).
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-global-bundle.pem"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
AuthMode = Literal["iam", "secrets"]


def _sslmode(env: Mapping[str, str], default: SslMode) -> SslMode:
    # Checked against contract.SSL_MODES (the same values as SslMode).
    return contract.DB_SSLMODE.optional_text(env) or default  # type: ignore[return-value]


def _sslrootcert(env: Mapping[str, str], default: Path | None) -> Path | None:
    raw = contract.DB_SSLROOTCERT.optional_text(env)
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


# RDS Proxy's certificate names the default endpoint (*.proxy-<id>.<region>.rds.amazonaws.com);
# a custom endpoint's name (<name>.endpoint.proxy-<id>...) has one label more, which a wildcard
# does not match, and AWS documents VERIFY_IDENTITY for the default endpoint only. So the reader
# endpoint verifies the chain (Amazon Root CA 1) but not the name: still TLS, still a certificate
# only AWS can present for the proxy's domain.
READER_SSLMODE: SslMode = "verify-ca"


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
    read_host: str | None = None

    def reader(self) -> DbSettings | None:
        """The same settings for the read-only endpoint (None without one). Its TLS mode is
        READER_SSLMODE unless DB_SSLMODE asked for a weaker one (local runs)."""
        if self.read_host is None:
            return None
        sslmode = READER_SSLMODE if self.sslmode == "verify-full" else self.sslmode
        return replace(self, host=self.read_host, sslmode=sslmode, read_host=None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DbSettings:
        """Read the app functions' variables (orders.contract); every one the stack sets is
        required, with the range the config allows."""
        env = os.environ if env is None else env
        return cls(
            host=contract.DB_HOST.text(env),
            port=contract.DB_PORT.integer(env),
            dbname=contract.DB_NAME.text(env),
            user=contract.DB_USER.text(env),
            connect_timeout_s=contract.DB_CONNECT_TIMEOUT_S.integer(env),
            sslmode=_sslmode(env, "verify-full"),
            sslrootcert=_sslrootcert(env, BUNDLED_CA),
            region=contract.AWS_REGION.text(env),
            read_host=contract.DB_READ_HOST.optional_text(env),
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
        """Read the migration function's variables (orders.contract)."""
        env = os.environ if env is None else env
        auth_mode = contract.DB_AUTH_MODE.text(env)
        app_secret = None
        if auth_mode == "secrets":
            app_secret = contract.APP_USER_SECRET_ARN.optional_text(env)
            if app_secret is None:
                raise SettingsError("APP_USER_SECRET_ARN is required when DB_AUTH_MODE=secrets")
        app_user = contract.APP_DB_USER.text(env)
        if app_user == contract.APP_GROUP_ROLE:
            raise SettingsError(
                f"APP_DB_USER={app_user!r} is reserved: it is the app's group role (NOLOGIN)"
            )
        # The instance endpoint presents an RDS CA certificate, not Amazon Root CA 1 (which
        # signs the proxy's ACM certificate): verify-full needs the RDS CA bundle (DB_SSLROOTCERT
        # or the one `make rds-ca` bundles); without one, encrypted but unverified (require).
        sslrootcert = _sslrootcert(env, None) or rds_ca_bundle()
        return cls(
            host=contract.DB_HOST.text(env),
            port=contract.DB_PORT.integer(env),
            dbname=contract.DB_NAME.text(env),
            admin_secret_arn=contract.DB_ADMIN_SECRET_ARN.text(env),
            app_user=app_user,
            auth_mode=auth_mode,  # type: ignore[arg-type]  # one of contract.DB_AUTH_MODE.choices
            app_user_secret_arn=app_secret,
            statement_timeout_ms=contract.APP_STATEMENT_TIMEOUT_MS.integer(env),
            lock_timeout_ms=contract.APP_LOCK_TIMEOUT_MS.integer(env),
            idle_in_transaction_timeout_ms=contract.APP_IDLE_IN_TRANSACTION_TIMEOUT_MS.integer(env),
            connect_timeout_s=contract.DB_CONNECT_TIMEOUT_S.integer(env),
            sslmode=_sslmode(env, "verify-full" if sslrootcert else "require"),
            sslrootcert=sslrootcert,
            region=contract.AWS_REGION.text(env),
        )
