"""Deploy-time migration: versioned SQL via yoyo, then the least-privilege app role."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql

from orders.contract import APP_GROUP_ROLE, MIGRATION_STEPS, ROLES_STEP, SCHEMA_STEP
from orders.observability import logger
from orders.settings import MIGRATIONS_DIR, MigrationSettings

if TYPE_CHECKING:
    from types_boto3_secretsmanager import SecretsManagerClient

MIGRATION_TABLE = "_yoyo_migration"
# A Lambda lives at most 15 minutes, so a yoyo lock row older than that belongs to an invocation
# that died (timeout, OOM) without releasing it: break it instead of failing every later deploy.
STALE_LOCK_MINUTES = 16
LOCK_WAIT_S = 30

# Relations and schemas on which a role (by name) holds privileges granted to it directly.
_DIRECT_RELATION_GRANTS = """
SELECT DISTINCT n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
ORDER BY 1, 2
"""
_DIRECT_SCHEMA_GRANTS = """
SELECT DISTINCT n.nspname
FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
ORDER BY 1
"""
# What REVOKE calls a relation of each pg_class.relkind; anything not listed is a TABLE.
_RELATION_KINDS = {"S": "SEQUENCE"}


class MigrationError(RuntimeError):
    """A migration step failed; the message is what CloudFormation shows (never a secret)."""


class SecretFetcher(Protocol):
    """Returns the JSON of a Secrets Manager secret (injectable for tests and local runs)."""

    def __call__(self, secret_arn: str) -> dict[str, Any]: ...


@dataclass
class SecretsManagerFetcher:
    """Reads secrets through botocore with short timeouts so a missing endpoint fails fast."""

    region: str
    _client: SecretsManagerClient | None = field(default=None, init=False, repr=False)

    def __call__(self, secret_arn: str) -> dict[str, Any]:
        if self._client is None:
            import botocore.config  # noqa: PLC0415  # only the migration needs botocore
            import botocore.session  # noqa: PLC0415

            config = botocore.config.Config(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._client = botocore.session.get_session().create_client(  # type: ignore[assignment]
                "secretsmanager", region_name=self.region, config=config
            )
        assert self._client is not None  # noqa: S101  # narrowing for mypy
        try:
            value = self._client.get_secret_value(SecretId=secret_arn)
        except Exception as exc:
            raise MigrationError(
                f"could not read secret {secret_arn} ({type(exc).__name__}: {exc}); check the "
                "function's secretsmanager:GetSecretValue permission (and kms:Decrypt for a CMK) "
                "and that Secrets Manager is reachable from its subnets"
            ) from exc
        return _parse_secret(value.get("SecretString"), secret_arn)


def _parse_secret(raw: object, secret_arn: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise MigrationError(f"secret {secret_arn} is not a JSON object")
    return parsed


def _credentials(secret: dict[str, Any], secret_arn: str) -> tuple[str, str]:
    username, password = secret.get("username"), secret.get("password")
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise MigrationError(f"secret {secret_arn} must hold non-empty 'username' and 'password'")
    return username, password


@dataclass
class MigrationResult:
    """What a run did; a step that did not run has None (and is left out of `as_data`)."""

    applied: list[str] | None
    schema_version: str | None
    role_changes: list[str]

    def as_data(self) -> dict[str, str]:
        """CloudFormation custom resource Data: string values only."""
        data = {"RoleChanges": ",".join(self.role_changes) or "none"}
        if self.applied is not None:
            data["AppliedMigrations"] = ",".join(self.applied) or "none"
        if self.schema_version is not None:
            data["SchemaVersion"] = self.schema_version
        return data


def warn_if_server_unverified(settings: MigrationSettings) -> None:
    """One WARNING per run (not per connection) when TLS does not verify the instance."""
    if settings.sslmode in ("verify-ca", "verify-full"):
        return
    logger.warning(
        "TLS to the database instance %s is not verified (sslmode=%s): the connection is "
        "encrypted but the server's certificate is not checked. Run `make rds-ca` to bundle the "
        "RDS CA (lambda_src/orders/certs/rds-global-bundle.pem) and redeploy: the migration then "
        "uses sslmode=verify-full.",
        settings.host,
        settings.sslmode,
        extra={"sslmode": settings.sslmode},
    )


def _conn_args(settings: MigrationSettings) -> dict[str, Any]:
    args: dict[str, Any] = {
        "sslmode": settings.sslmode,
        "connect_timeout": settings.connect_timeout_s,
        "application_name": "orders-migrate",
    }
    if settings.sslrootcert is not None:
        args["sslrootcert"] = str(settings.sslrootcert)
    return args


def apply_schema_migrations(settings: MigrationSettings, user: str, password: str) -> list[str]:
    """Apply pending yoyo migrations under yoyo's lock; returns the ids applied (may be none)."""
    # yoyo ships no type information.
    from yoyo import read_migrations  # type: ignore[import-untyped]  # noqa: PLC0415
    from yoyo.backends.core.postgresql import (  # type: ignore[import-untyped]  # noqa: PLC0415
        PostgresqlPsycopgBackend,
    )
    from yoyo.connections import DatabaseURI  # type: ignore[import-untyped]  # noqa: PLC0415

    # yoyo records getpass.getuser() in its log; Lambda's sandbox user may have no passwd entry.
    os.environ.setdefault("LOGNAME", "orders-migrate")
    # Built directly rather than from a URI string: no quoting of the password, no entry-point
    # lookup, and psycopg 3 (yoyo's "postgresql+psycopg" backend) instead of psycopg2.
    uri = DatabaseURI(
        "postgresql+psycopg",
        user,
        password,
        settings.host,
        settings.port,
        settings.dbname,
        _conn_args(settings),
    )
    try:
        backend = PostgresqlPsycopgBackend(uri, MIGRATION_TABLE)
    except psycopg.OperationalError as exc:
        raise MigrationError(
            f"could not connect to {settings.host}:{settings.port}/{settings.dbname} as {user}: "
            f"{str(exc).strip()}"
        ) from exc
    try:
        backend.init_database()
        backend.execute(
            "DELETE FROM yoyo_lock WHERE ctime < (now() AT TIME ZONE 'UTC') - :stale::interval",
            {"stale": f"{STALE_LOCK_MINUTES} minutes"},
        )
        migrations = read_migrations(str(MIGRATIONS_DIR))
        if not list(migrations):
            raise MigrationError(f"no migrations found in {MIGRATIONS_DIR}")
        with backend.lock(timeout=LOCK_WAIT_S):
            pending = backend.to_apply(migrations)
            applied = [m.id for m in pending]
            backend.apply_migrations(pending)
            # yoyo skips a migration it cannot load instead of failing: refuse to report success.
            still_pending = [m.id for m in backend.to_apply(migrations)]
            if still_pending:
                raise MigrationError(f"migrations not applied: {', '.join(still_pending)}")
        return applied
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(f"schema migration failed: {type(exc).__name__}: {exc}") from exc
    finally:
        backend.connection.close()


def latest_version() -> str:
    names = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql") if not p.stem.endswith(".rollback"))
    return names[-1] if names else "none"


@dataclass
class RoleManager:
    """Creates and configures the app role on an admin connection; each step checks first."""

    conn: psycopg.Connection[Any]
    settings: MigrationSettings
    can_login: Callable[[str, str], bool]
    changes: list[str] = field(default_factory=list)

    def _one(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def _run(self, change: str, statement: sql.Composed) -> None:
        self.conn.execute(statement)
        self.changes.append(change)
        logger.info("app role change", extra={"change": change})

    def apply(self, app_password: str | None) -> list[str]:
        app = sql.Identifier(self.settings.app_user)
        user = self.settings.app_user
        self._refuse_privileged_role(user)
        has_rds_iam = self._one("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'") is not None
        if self.settings.auth_mode == "iam" and not has_rds_iam:
            raise MigrationError(
                "DB_AUTH_MODE=iam needs the rds_iam role, which exists only on RDS/Aurora "
                "PostgreSQL; for a plain PostgreSQL use DB_AUTH_MODE=secrets"
            )
        created = False
        with self.conn.transaction():
            can_login = self._one("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (user,))
            if can_login is None:
                self._run("create-role", sql.SQL("CREATE ROLE {} LOGIN").format(app))
                created = True
            elif not can_login:
                self._run("enable-login", sql.SQL("ALTER ROLE {} LOGIN").format(app))

            is_iam_member = has_rds_iam and bool(
                self._one("SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')", (user,))
            )
            if self.settings.auth_mode == "iam":
                if not is_iam_member:
                    self._run("grant-rds_iam", sql.SQL("GRANT rds_iam TO {}").format(app))
            else:
                # The proxy logs in with the secret's password; a member of rds_iam could only
                # log in with a token, so the role must not have it.
                if is_iam_member:
                    self._run("revoke-rds_iam", sql.SQL("REVOKE rds_iam FROM {}").format(app))
                assert app_password is not None  # noqa: S101  # settings require the secret
                if created or not self.can_login(user, app_password):
                    # A SCRAM verifier computed client-side: the plaintext never reaches the
                    # server (nor its statement log).
                    verifier = self.conn.pgconn.encrypt_password(
                        app_password.encode(), user.encode(), b"scram-sha-256"
                    ).decode()
                    self._run(
                        "set-password",
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(app, sql.Literal(verifier)),
                    )

            self._apply_timeouts(app)
            self._apply_grants(app)
        return self.changes

    def _refuse_privileged_role(self, user: str) -> None:
        """The proxy and every function would log in as this role: never take over one that
        can do more than the app needs (nothing is changed when this refuses)."""
        if user == self.conn.info.user:
            raise MigrationError(
                f"role {user} is the admin user the migration logs in as; set proxy.app_db_user "
                "in cdk.json to another name (the app must not log in as the admin)"
            )
        row = self.conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
            "EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_superuser' "
            "AND pg_has_role(r.oid, g.oid, 'MEMBER')) "
            "FROM pg_roles r WHERE r.rolname = %s",
            (user,),
        ).fetchone()
        names = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS", "rds_superuser")
        held = [name for name, flag in zip(names, row or (), strict=False) if flag]
        if held:
            raise MigrationError(
                f"role {user} already exists with {', '.join(held)}; the proxy would log in "
                "with those rights. Set proxy.app_db_user in cdk.json to a new name, or take "
                f"them away yourself (ALTER ROLE {user} NOSUPERUSER ...; REVOKE rds_superuser "
                f"FROM {user}) and deploy again. Nothing was changed."
            )

    def _apply_timeouts(self, app: sql.Identifier) -> None:
        wanted = {
            "statement_timeout": str(self.settings.statement_timeout_ms),
            "lock_timeout": str(self.settings.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(
                self.settings.idle_in_transaction_timeout_ms
            ),
        }
        current_list = self._one(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = %s AND s.setdatabase = 0",
            (self.settings.app_user,),
        )
        current = dict(item.split("=", 1) for item in (current_list or []))
        for name, value in wanted.items():
            if current.get(name) != value:
                # Role-level settings because the proxy rejects startup `options` and a SET
                # per session would pin it. Values are validated integers (milliseconds).
                self._run(
                    f"set-{name}",
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(
                        app, sql.Identifier(name), sql.Literal(value)
                    ),
                )

    def _apply_grants(self, app: sql.Identifier) -> None:
        """CONNECT, membership of the group role (which the SQL migrations grant privileges
        to), and no privilege granted to the app user directly."""
        user = self.settings.app_user
        db = self.settings.dbname
        if not self._one("SELECT has_database_privilege(%s, %s, 'CONNECT')", (user, db)):
            self._run(
                "grant-connect",
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db), app),
            )
        self._apply_group(app)
        self._revoke_direct_grants(app)

    def _apply_group(self, app: sql.Identifier) -> None:
        user, group = self.settings.app_user, sql.Identifier(APP_GROUP_ROLE)
        if self._one("SELECT pg_has_role(%s, %s, 'USAGE')", (user, APP_GROUP_ROLE)):
            return  # a member that inherits the group's privileges
        if not self._one("SELECT rolinherit FROM pg_roles WHERE rolname = %s", (user,)):
            self._run("set-inherit", sql.SQL("ALTER ROLE {} INHERIT").format(app))
        if self.conn.info.server_version >= 160000:
            # Since PostgreSQL 16 inheritance is per membership: set it on the grant too.
            statement = sql.SQL("GRANT {} TO {} WITH INHERIT TRUE").format(group, app)
        elif self._one("SELECT pg_has_role(%s, %s, 'MEMBER')", (user, APP_GROUP_ROLE)):
            return  # a member already; INHERIT above makes its privileges usable
        else:
            statement = sql.SQL("GRANT {} TO {}").format(group, app)
        self._run("grant-group", statement)

    def _revoke_direct_grants(self, app: sql.Identifier) -> None:
        """Earlier versions granted USAGE on the schema and SELECT, INSERT on shop.orders to the
        app user itself; the migrations are now the only source of its privileges."""
        user = (self.settings.app_user,)
        relations = self.conn.execute(_DIRECT_RELATION_GRANTS, user).fetchall()
        for schema, name, kind in relations:
            self._run(
                f"revoke-direct:{schema}.{name}",
                sql.SQL("REVOKE ALL ON {} {} FROM {}").format(
                    sql.SQL(_RELATION_KINDS.get(kind, "TABLE")), sql.Identifier(schema, name), app
                ),
            )
        schemas = self.conn.execute(_DIRECT_SCHEMA_GRANTS, user).fetchall()
        for (schema,) in schemas:
            self._run(
                f"revoke-direct:schema {schema}",
                sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sql.Identifier(schema), app),
            )


def ensure_group_role(conn: psycopg.Connection[Any]) -> list[str]:
    """Create the app's NOLOGIN group role if it is missing (before the SQL migrations that
    grant to it run); refuse a login role of that name rather than take it over."""
    row = conn.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (APP_GROUP_ROLE,)
    ).fetchone()
    if row is not None:
        if row[0]:
            raise MigrationError(
                f"role {APP_GROUP_ROLE} exists and can log in; that name is reserved for the "
                "app's NOLOGIN group role (orders.contract.APP_GROUP_ROLE). Rename that role "
                f"(ALTER ROLE {APP_GROUP_ROLE} RENAME TO ...) and deploy again. Nothing was "
                "changed."
            )
        return []
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(APP_GROUP_ROLE)))
    logger.info("app role change", extra={"change": "create-group-role"})
    return ["create-group-role"]


def _read_secrets(
    settings: MigrationSettings, secrets: SecretFetcher, *, app_password: bool
) -> tuple[str, str, str | None]:
    """Admin user and password, and (when asked for, in secrets mode) the app user's password."""
    admin_user, admin_password = _credentials(
        secrets(settings.admin_secret_arn), settings.admin_secret_arn
    )
    if settings.auth_mode != "secrets" or not app_password:
        return admin_user, admin_password, None
    assert settings.app_user_secret_arn is not None  # noqa: S101  # enforced by settings
    app_secret = secrets(settings.app_user_secret_arn)
    secret_user, password = _credentials(app_secret, settings.app_user_secret_arn)
    if secret_user != settings.app_user:
        raise MigrationError(
            f"secret {settings.app_user_secret_arn} is for user {secret_user!r}, "
            f"but APP_DB_USER is {settings.app_user!r}"
        )
    return admin_user, admin_password, password


def _connect(
    settings: MigrationSettings, user: str, password: str, **extra: Any
) -> psycopg.Connection[Any]:
    return psycopg.Connection.connect(
        host=settings.host,
        port=settings.port,
        dbname=settings.dbname,
        user=user,
        password=password,
        **_conn_args(settings),
        **extra,
    )


def run(
    settings: MigrationSettings,
    secrets: SecretFetcher,
    steps: Sequence[str] = MIGRATION_STEPS,
) -> MigrationResult:
    """Run the given steps (orders.contract.MIGRATION_STEPS) in their deploy order. Idempotent.

    Both create the NOLOGIN group role if it is missing. ROLES_STEP then creates and configures
    the app user (login, rds_iam or password, timeouts, CONNECT, group membership); SCHEMA_STEP
    applies the pending SQL migrations, which grant to the group role.
    """
    unknown = [step for step in steps if step not in MIGRATION_STEPS]
    if unknown or not steps:
        raise MigrationError(
            f"migration steps must be some of {', '.join(MIGRATION_STEPS)}, got {list(steps)}"
        )
    warn_if_server_unverified(settings)
    admin_user, admin_password, app_password = _read_secrets(
        settings, secrets, app_password=ROLES_STEP in steps
    )

    def can_login(user: str, password: str) -> bool:
        try:
            _connect(settings, user, password).close()
        except psycopg.OperationalError:
            return False
        return True

    try:
        conn = _connect(settings, admin_user, admin_password, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(
            f"could not connect to {settings.host}:{settings.port}/{settings.dbname} as "
            f"{admin_user}: {str(exc).strip()}. Check that the instance is available, that the "
            "migration function's security group reaches it on that port, and the admin secret"
        ) from exc
    applied: list[str] | None = None
    try:
        with conn:
            changes = ensure_group_role(conn)
            if ROLES_STEP in steps:
                changes += RoleManager(conn, settings, can_login).apply(app_password)
            if SCHEMA_STEP in steps:
                applied = apply_schema_migrations(settings, admin_user, admin_password)
    except MigrationError:
        raise
    except psycopg.Error as exc:
        raise MigrationError(
            f"configuring role {settings.app_user} failed: {type(exc).__name__}: {str(exc).strip()}"
        ) from exc
    return MigrationResult(
        applied=applied,
        schema_version=latest_version() if SCHEMA_STEP in steps else None,
        role_changes=changes,
    )
