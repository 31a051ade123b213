"""The first deploy's order on a real PostgreSQL 15 and PgBouncer: the data stack's app-user
bootstrap (roles step), run on an empty database and again, then the service stack's schema
step. The app user can log in through the pooler (standing in for RDS Proxy) only once the
bootstrap has run: that is what the proxy target group waits for."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from localpg import LocalPgBouncer, LocalPostgres
from orders import contract, migration
from orders.migration import MigrationError
from orders.settings import MigrationSettings

# Written here, not imported: the step names are the custom resources' contract.
ROLES, SCHEMA = "roles", "schema"


@dataclass
class Deploy:
    postgres: LocalPostgres
    bouncer: LocalPgBouncer
    dbname: str
    app_user: str
    app_password: str

    def settings(self, **overrides: str) -> MigrationSettings:
        return MigrationSettings.from_env(
            {
                "DB_HOST": self.postgres.host,
                "DB_PORT": str(self.postgres.port),
                "DB_NAME": self.dbname,
                "DB_ADMIN_SECRET_ARN": "arn:admin",
                "APP_DB_USER": self.app_user,
                "DB_AUTH_MODE": "secrets",
                "APP_USER_SECRET_ARN": "arn:app",
                "APP_STATEMENT_TIMEOUT_MS": "2000",
                "APP_LOCK_TIMEOUT_MS": "500",
                "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
                "DB_CONNECT_TIMEOUT_S": "5",
                "DB_SSLMODE": "verify-full",
                "DB_SSLROOTCERT": str(self.postgres.ca_cert_path),
                "AWS_REGION": "eu-west-1",
                **overrides,
            }
        )

    def run(self, *steps: str, **overrides: str) -> migration.MigrationResult:
        admin = {"username": self.postgres.superuser, "password": self.postgres.superuser_password}
        app = {"username": self.app_user, "password": self.app_password}
        secret_by_arn = {"arn:admin": admin, "arn:app": app}
        return migration.run(self.settings(**overrides), secret_by_arn.__getitem__, steps)

    def app_login_through_pooler(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            self.bouncer.conninfo(
                user=self.app_user,
                password=self.app_password,
                dbname=self.dbname,
                connect_timeout=5,
            ),
            autocommit=True,
            prepare_threshold=None,
        )

    def sql(self, query: str) -> list[tuple[object, ...]]:
        return self.postgres.execute(query, dbname=self.dbname)


@pytest.fixture
def deploy(postgres: LocalPostgres, pgbouncer: LocalPgBouncer) -> Iterator[Deploy]:
    """An empty database and an app user name nobody has created yet. Roles are cluster-wide:
    what the test creates (the user, and the group role if it was new) goes at the end, so the
    other modules see the server as they would without this one."""
    suffix = secrets.token_hex(4)
    dbname, user = f"first_deploy_{suffix}", f"orders_first_{suffix}"
    group_existed = bool(
        postgres.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (contract.APP_GROUP_ROLE,))
    )
    postgres.execute(f'CREATE DATABASE "{dbname}"')
    yield Deploy(postgres, pgbouncer, dbname, user, secrets.token_urlsafe(16))
    postgres.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
    postgres.execute(f'DROP ROLE IF EXISTS "{user}"')
    if not group_existed:
        postgres.execute(f'DROP ROLE IF EXISTS "{contract.APP_GROUP_ROLE}"')


def test_bootstrap_then_again_then_schema_and_the_app_logs_in_only_after_the_bootstrap(
    deploy: Deploy,
) -> None:
    # GIVEN an empty database: the proxy's stand-in cannot log in as the app user
    with pytest.raises(psycopg.OperationalError):
        deploy.app_login_through_pooler().close()

    # WHEN the data stack's bootstrap runs
    first = deploy.run(ROLES)
    # THEN the user exists with its password, timeouts, CONNECT and group membership...
    assert {
        "create-role",
        "set-password",
        "set-statement_timeout",
        "set-lock_timeout",
        "set-idle_in_transaction_session_timeout",
        "grant-group",
    } <= set(first.role_changes)
    assert first.applied is None, "the roles step applies no SQL migration"
    assert first.as_data() == {"RoleChanges": ",".join(first.role_changes)}
    # ...and the pooler lets it in, although no schema exists yet
    with deploy.app_login_through_pooler() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (deploy.app_user,)
        assert conn.execute("SELECT to_regclass('shop.orders')").fetchone() == (None,)

    # WHEN it runs again (a redeploy that changes nothing) THEN nothing changes, no error
    assert deploy.run(ROLES).role_changes == []

    # WHEN the service stack's schema step runs after it
    schema = deploy.run(SCHEMA)
    assert schema.applied == ["0001_create_orders", "0002_grant_app_group"]
    assert schema.role_changes == []
    # THEN the app user reads and writes orders through the pooler with the group's grants
    with deploy.app_login_through_pooler() as conn:
        conn.execute(
            "INSERT INTO shop.orders (customer_id, idempotency_key, request_hash, items, "
            "total_cents) VALUES (gen_random_uuid(), 'k1', repeat('a', 64), '[]', 0)"
        )
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone() == (1,)
    assert deploy.run(SCHEMA).applied == []


@pytest.mark.parametrize(
    ("attributes", "named"),
    [("SUPERUSER", "SUPERUSER"), ("CREATEROLE CREATEDB", "CREATEROLE, CREATEDB")],
)
def test_a_privileged_role_with_the_app_users_name_is_refused_and_left_alone(
    deploy: Deploy, attributes: str, named: str
) -> None:
    deploy.postgres.execute(f"CREATE ROLE {deploy.app_user} LOGIN {attributes} PASSWORD 'old'")
    before = deploy.postgres.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolpassword FROM pg_authid "
        "WHERE rolname = %s",
        (deploy.app_user,),
    )
    with pytest.raises(MigrationError) as caught:
        deploy.run(ROLES)
    message = str(caught.value)
    assert f"role {deploy.app_user} already exists with {named}" in message
    assert "proxy.app_db_user" in message, "the fix names the config key"
    assert "Nothing was changed" in message
    after = deploy.postgres.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolpassword FROM pg_authid "
        "WHERE rolname = %s",
        (deploy.app_user,),
    )
    assert after == before
    assert deploy.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'shop'") == [(0,)]


def test_the_admin_user_as_app_user_is_refused(deploy: Deploy) -> None:
    deploy.app_user = deploy.postgres.superuser
    with pytest.raises(MigrationError, match="is the admin user the migration logs in as"):
        deploy.run(ROLES)


def test_an_unreachable_database_fails_the_bootstrap_with_the_fix(deploy: Deploy) -> None:
    with pytest.raises(MigrationError) as caught:
        deploy.run(ROLES, DB_PORT="1")
    assert "could not connect to 127.0.0.1:1/" in str(caught.value)
    assert "security group" in str(caught.value)
