"""The orders runtime on real PostgreSQL 15 and PgBouncer (transaction pooling, TLS), end to end."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from localpg import LocalPgBouncer, LocalPostgres
from orders import contract, migration, runtime, service
from orders import settings as settings_module
from orders.db import Database
from orders.errors import DatabaseError, DatabaseTimeoutError, DatabaseUnavailableError
from orders.handlers import api, direct
from orders.migration import MigrationError
from orders.settings import BUNDLED_CA, MIGRATIONS_DIR, DbSettings, MigrationSettings
from orders.validation import parse_create_order
from tests.integration.events import http
from tests.lambdas.fakes import LambdaContext

APP_USER = "orders_app_it"
STATEMENT_TIMEOUT_MS = 1000
CTX = LambdaContext()
ITEMS = [{"sku": "FLASH-1", "quantity": 1, "unit_price_cents": 999}]


@dataclass
class Credentials:
    """Token source for local runs: the role's current password, counted on every connect."""

    password: str
    issued: list[str] = field(default_factory=list)

    def __call__(self) -> str:
        self.issued.append(self.password)
        return self.password


@dataclass
class Cluster:
    postgres: LocalPostgres
    bouncer: LocalPgBouncer
    dbname: str
    credentials: Credentials
    secrets: dict[str, dict[str, str]]

    def migration_settings(self, **overrides: str) -> MigrationSettings:
        env = {
            "DB_HOST": self.postgres.host,
            "DB_PORT": str(self.postgres.port),
            "DB_NAME": self.dbname,
            "DB_ADMIN_SECRET_ARN": "arn:admin",
            "APP_DB_USER": APP_USER,
            "DB_AUTH_MODE": "secrets",
            "APP_USER_SECRET_ARN": "arn:app",
            "APP_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
            "APP_LOCK_TIMEOUT_MS": "500",
            "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
            "DB_CONNECT_TIMEOUT_S": "5",
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": str(self.postgres.ca_cert_path),
            "AWS_REGION": "eu-west-1",
            **overrides,
        }
        return MigrationSettings.from_env(env)

    def migrate(self, **overrides: str) -> migration.MigrationResult:
        return migration.run(self.migration_settings(**overrides), self.secrets.__getitem__)

    def app_settings(self, *, through_pooler: bool = True, **overrides: str) -> DbSettings:
        host, port = (
            (self.bouncer.host, self.bouncer.port)
            if through_pooler
            else (self.postgres.host, self.postgres.port)
        )
        env = {
            "DB_HOST": host,
            "DB_PORT": str(port),
            "DB_NAME": self.dbname,
            "DB_USER": APP_USER,
            "DB_CONNECT_TIMEOUT_S": "3",
            "DB_SSLROOTCERT": str(self.postgres.ca_cert_path),
            "AWS_REGION": "eu-west-1",
            **overrides,
        }
        return DbSettings.from_env(env)

    def app_database(self, *, through_pooler: bool = True) -> Database:
        return Database(self.app_settings(through_pooler=through_pooler), self.credentials)

    def sql(self, query: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        return self.postgres.execute(query, params, dbname=self.dbname)


@pytest.fixture(scope="module")
def cluster(postgres: LocalPostgres, pgbouncer: LocalPgBouncer) -> Cluster:
    dbname = f"orders_it_{secrets.token_hex(4)}"
    postgres.execute(f'CREATE DATABASE "{dbname}"')
    password = secrets.token_urlsafe(16)
    return Cluster(
        postgres=postgres,
        bouncer=pgbouncer,
        dbname=dbname,
        credentials=Credentials(password),
        secrets={
            "arn:admin": {"username": postgres.superuser, "password": postgres.superuser_password},
            "arn:app": {"username": APP_USER, "password": password},
        },
    )


@pytest.fixture(scope="module")
def first_migration(cluster: Cluster) -> migration.MigrationResult:
    return cluster.migrate()


@pytest.fixture
def app(cluster: Cluster, first_migration: migration.MigrationResult) -> Iterator[Database]:
    """The handlers' Database, through PgBouncer, installed as this environment's connection."""
    database = cluster.app_database()
    runtime.set_database(database)
    yield database
    runtime.set_database(None)


def catalog_state(cluster: Cluster) -> list[Any]:
    return [
        cluster.sql(
            "SELECT a.rolname, a.rolcanlogin, a.rolinherit, a.rolpassword, r.rolconfig "
            "FROM pg_authid a JOIN pg_roles r USING (oid) WHERE a.rolname IN (%s, %s) ORDER BY 1",
            (APP_USER, contract.APP_GROUP_ROLE),
        ),
        cluster.sql(
            "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members "
            "WHERE member = %s::regrole ORDER BY 1",
            (APP_USER,),
        ),
        cluster.sql("SELECT relacl::text FROM pg_class WHERE oid = 'shop.orders'::regclass"),
        cluster.sql("SELECT nspacl::text FROM pg_namespace WHERE nspname = 'shop'"),
        cluster.sql("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id"),
        cluster.sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shop' ORDER BY 1"
        ),
    ]


# --- migrations ---------------------------------------------------------------------------


def test_first_migration_creates_schema_role_timeouts_and_grants(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    assert first_migration.applied == ["0001_create_orders", "0002_grant_app_group"]
    assert first_migration.schema_version == "0002_grant_app_group"
    assert {
        "create-group-role",
        "create-role",
        "set-password",
        "set-statement_timeout",
        "grant-group",
    } <= set(first_migration.role_changes)
    assert first_migration.role_changes[0] == "create-group-role", "before the SQL grants to it"
    [(config,)] = cluster.sql("SELECT rolconfig FROM pg_roles WHERE rolname = %s", (APP_USER,))
    assert sorted(config) == [
        "idle_in_transaction_session_timeout=5000",
        "lock_timeout=500",
        f"statement_timeout={STATEMENT_TIMEOUT_MS}",
    ]


def test_running_the_migration_again_changes_nothing(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    before = catalog_state(cluster)
    again = cluster.migrate()
    assert again.applied == []
    assert again.role_changes == []
    assert catalog_state(cluster) == before


TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def table_privileges(cluster: Cluster, role: str, table: str) -> set[str]:
    return {
        privilege
        for privilege in TABLE_PRIVILEGES
        if cluster.sql("SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege))[0][0]
    }


def direct_grants(cluster: Cluster, role: str) -> list[tuple[Any, ...]]:
    """Schemas and relations on which ``role`` itself (not a group it is in) holds privileges."""
    return cluster.sql(
        "SELECT c.oid::regclass::text, a.privilege_type FROM pg_class c "
        "CROSS JOIN LATERAL aclexplode(c.relacl) a WHERE a.grantee = %s::regrole "
        "UNION ALL SELECT n.nspname, a.privilege_type FROM pg_namespace n "
        "CROSS JOIN LATERAL aclexplode(n.nspacl) a WHERE a.grantee = %s::regrole",
        (role, role),
    )


def test_app_role_can_only_read_and_insert_orders(cluster: Cluster, app: Database) -> None:
    # Least privilege, through the group role: SELECT and INSERT, nothing granted directly.
    assert table_privileges(cluster, APP_USER, "shop.orders") == {"SELECT", "INSERT"}
    assert direct_grants(cluster, APP_USER) == []
    group = contract.APP_GROUP_ROLE
    assert cluster.sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (group,)) == [
        (False,)
    ]
    forbidden = [
        "UPDATE shop.orders SET status = 'PAID'",
        "DELETE FROM shop.orders",
        "TRUNCATE shop.orders",
        "CREATE TABLE shop.extra (id int)",
    ]
    for statement in forbidden:
        with pytest.raises(DatabaseError) as caught:
            app.run(lambda conn, s=statement: conn.execute(s), retry_safe=False)
        assert caught.value.sqlstate == "42501", statement  # insufficient_privilege


def test_privileges_an_earlier_version_granted_directly_are_revoked(
    cluster: Cluster, app: Database
) -> None:
    # GIVEN a database migrated by an earlier version (grants on the app user itself), plus a
    # privilege the migrations never granted
    cluster.sql(f"GRANT USAGE ON SCHEMA shop TO {APP_USER}")
    cluster.sql(f"GRANT SELECT, INSERT, UPDATE ON shop.orders TO {APP_USER}")
    assert "UPDATE" in table_privileges(cluster, APP_USER, "shop.orders")
    # WHEN this version migrates
    result = cluster.migrate()
    # THEN the direct grants are gone and the app keeps exactly what the group holds
    assert {"revoke-direct:shop.orders", "revoke-direct:schema shop"} <= set(result.role_changes)
    assert direct_grants(cluster, APP_USER) == []
    assert table_privileges(cluster, APP_USER, "shop.orders") == {"SELECT", "INSERT"}
    assert (
        app.run(lambda conn: conn.execute("SELECT 1 FROM shop.orders").fetchall(), retry_safe=True)
        is not None
    )
    assert cluster.migrate().role_changes == []


def test_an_app_role_that_does_not_inherit_is_made_to(cluster: Cluster, app: Database) -> None:
    cluster.sql(f"ALTER ROLE {APP_USER} NOINHERIT")
    assert table_privileges(cluster, APP_USER, "shop.orders") == set()
    assert "set-inherit" in cluster.migrate().role_changes
    assert table_privileges(cluster, APP_USER, "shop.orders") == {"SELECT", "INSERT"}


def test_a_login_role_with_the_group_roles_name_is_refused(cluster: Cluster) -> None:
    group = contract.APP_GROUP_ROLE
    cluster.postgres.execute(f"ALTER ROLE {group} LOGIN")
    try:
        with pytest.raises(MigrationError, match=f"role {group} exists and can log in"):
            cluster.migrate()
    finally:
        cluster.postgres.execute(f"ALTER ROLE {group} NOLOGIN")


def test_a_table_added_by_a_new_migration_file_alone_is_usable_by_the_app(
    cluster: Cluster,
    first_migration: migration.MigrationResult,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # GIVEN a copy of the migrations plus one new file that creates a table and grants to the
    # group role, and nothing else changed (no code, no grants in orders/migration.py)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "0003_create_order_notes.sql").write_text(
        "-- depends: 0002_grant_app_group\n"
        "CREATE TABLE shop.order_notes (\n"
        "    note_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n"
        "    order_id uuid NOT NULL,\n"
        "    note text NOT NULL\n"
        ");\n"
        f"GRANT SELECT, INSERT ON shop.order_notes TO {contract.APP_GROUP_ROLE};\n"
    )
    (migrations / "0003_create_order_notes.rollback.sql").write_text(
        "DROP TABLE shop.order_notes;\n"
    )
    monkeypatch.setattr(migration, "MIGRATIONS_DIR", migrations)
    dbname = f"orders_it_{secrets.token_hex(4)}"
    cluster.postgres.execute(f'CREATE DATABASE "{dbname}"')
    fresh = replace(cluster, dbname=dbname)
    # WHEN the migration runs
    result = fresh.migrate()
    # THEN the app can read and insert notes, and nothing more
    assert result.applied[-1] == "0003_create_order_notes"
    assert table_privileges(fresh, APP_USER, "shop.order_notes") == {"SELECT", "INSERT"}
    database = fresh.app_database(through_pooler=False)
    try:
        order_id = uuid.uuid4()
        database.run(
            lambda conn: conn.execute(
                "INSERT INTO shop.order_notes (order_id, note) VALUES (%s, 'gift')", (order_id,)
            ),
            retry_safe=False,
        )
        rows = database.run(
            lambda conn: conn.execute("SELECT note FROM shop.order_notes").fetchall(),
            retry_safe=True,
        )
        assert rows == [("gift",)]
        with pytest.raises(DatabaseError):
            database.run(
                lambda conn: conn.execute("DELETE FROM shop.order_notes"), retry_safe=False
            )
    finally:
        database.close()
    assert fresh.migrate().applied == []


def test_iam_mode_fails_clearly_where_rds_iam_does_not_exist(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    with pytest.raises(MigrationError, match="DB_AUTH_MODE=iam needs the rds_iam role"):
        cluster.migrate(DB_AUTH_MODE="iam")


def test_iam_mode_grants_rds_iam_and_secrets_mode_takes_it_away(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    user = "orders_iam_it"
    member = "SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')"
    cluster.postgres.execute("CREATE ROLE rds_iam NOLOGIN")  # what RDS provides
    try:
        granted = cluster.migrate(DB_AUTH_MODE="iam", APP_DB_USER=user)
        assert "grant-rds_iam" in granted.role_changes
        assert cluster.sql(member, (user,)) == [(True,)]
        assert cluster.migrate(DB_AUTH_MODE="iam", APP_DB_USER=user).role_changes == []

        cluster.secrets["arn:iam-app"] = {"username": user, "password": "pw-" + user}
        revoked = cluster.migrate(APP_DB_USER=user, APP_USER_SECRET_ARN="arn:iam-app")
        assert "revoke-rds_iam" in revoked.role_changes
        assert cluster.sql(member, (user,)) == [(False,)]
    finally:
        cluster.postgres.execute("DROP ROLE rds_iam")


def test_migration_to_an_unreachable_database_fails_with_a_clear_reason(cluster: Cluster) -> None:
    started = time.monotonic()
    with pytest.raises(MigrationError, match=r"could not connect to 127\.0\.0\.1:1/"):
        cluster.migrate(DB_PORT="1")
    assert time.monotonic() - started < 10


# The local server's test CA stands in for the RDS CA bundle that `make rds-ca` puts in the
# package; DB_SSLMODE/DB_SSLROOTCERT are left empty so the package default decides.
DEFAULT_TLS = {"DB_SSLMODE": "", "DB_SSLROOTCERT": ""}


def test_with_the_rds_ca_bundle_the_migration_verifies_the_instance(
    cluster: Cluster, first_migration: migration.MigrationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", cluster.postgres.ca_cert_path)
    settings = cluster.migration_settings(**DEFAULT_TLS)
    assert (settings.sslmode, settings.sslrootcert) == (
        "verify-full",
        cluster.postgres.ca_cert_path,
    )
    assert migration.run(settings, cluster.secrets.__getitem__).applied == []


def test_with_the_rds_ca_bundle_an_instance_certificate_it_does_not_sign_is_refused(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", BUNDLED_CA)  # not the server's CA
    with pytest.raises(MigrationError, match="certificate verify failed"):
        cluster.migrate(**DEFAULT_TLS)


def test_without_the_rds_ca_bundle_the_migration_encrypts_and_warns(
    cluster: Cluster,
    first_migration: migration.MigrationResult,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", tmp_path / "rds-global-bundle.pem")
    settings = cluster.migration_settings(**DEFAULT_TLS)
    assert (settings.sslmode, settings.sslrootcert) == ("require", None)
    assert migration.run(settings, cluster.secrets.__getitem__).applied == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "make rds-ca" in warnings[0]


# --- handlers end to end through PgBouncer ---------------------------------------------------


def test_handlers_create_get_and_list_orders_through_pgbouncer(app: Database) -> None:
    customer = str(uuid.uuid4())
    body = {"customer_id": customer, "items": ITEMS}
    created = api.handler(http("POST", "/orders", body, key="e2e-1"), CTX)
    retried = api.handler(http("POST", "/orders", body, key="e2e-1"), CTX)
    assert (created["statusCode"], retried["statusCode"]) == (201, 200)
    order = json.loads(created["body"])
    assert json.loads(retried["body"]) == order

    fetched = api.handler(http("GET", f"/orders/{order['order_id']}"), CTX)
    assert json.loads(fetched["body"]) == order
    listed = api.handler(http("GET", f"/customers/{customer}/orders"), CTX)
    assert json.loads(listed["body"])["orders"] == [order]

    via_direct = direct.handler(
        {"action": contract.GET_ORDER_ACTION, "order_id": order["order_id"]}, CTX
    )
    assert via_direct["body"] == order
    assert app.connects == 1, "one connection per environment, reused across invocations"


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (http("POST", "/orders", {"customer_id": "nope", "items": ITEMS}, key="k"), 400),
        (http("POST", "/orders", {"customer_id": str(uuid.uuid4()), "items": []}, key="k"), 400),
        (http("GET", f"/orders/{uuid.uuid4()}"), 404),
        (http("GET", "/orders/1%20OR%201=1"), 400),
        (http("PATCH", "/orders"), 405),
        ({"action": "nope"}, 400),
    ],
)
def test_malformed_events_get_4xx_from_the_real_stack(
    app: Database, event: dict[str, Any], status: int
) -> None:
    assert api.handler(event, CTX)["statusCode"] == status


def test_an_idempotency_key_reused_for_a_different_order_is_a_409(app: Database) -> None:
    customer = str(uuid.uuid4())
    api.handler(http("POST", "/orders", {"customer_id": customer, "items": ITEMS}, key="r"), CTX)
    other = [{**ITEMS[0], "quantity": 2}]
    reused = api.handler(
        http("POST", "/orders", {"customer_id": customer, "items": other}, key="r"), CTX
    )
    assert reused["statusCode"] == 409


def test_repeated_queries_never_prepare_statements(cluster: Cluster) -> None:
    # Direct to PostgreSQL so the session is ours to inspect: psycopg's default would PREPARE
    # from the 5th run on, which pins an RDS Proxy session.
    database = cluster.app_database(through_pooler=False)
    try:
        for _ in range(20):
            database.run(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM shop.orders WHERE customer_id = %s", (uuid.uuid4(),)
                ).fetchone(),
                retry_safe=True,
            )
        prepared = database.run(
            lambda conn: conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone(),
            retry_safe=True,
        )
        assert prepared == (0,)
    finally:
        database.close()


# --- timeouts, dropped connections, rotated credentials ---------------------------------------


def test_statement_timeout_set_on_the_role_cancels_a_slow_query(app: Database) -> None:
    shown = app.run(lambda conn: conn.execute("SHOW statement_timeout").fetchone(), retry_safe=True)
    assert shown == ("1s",), "the timeout comes from the role, not from the session"
    started = time.monotonic()
    with pytest.raises(DatabaseTimeoutError):
        app.run(lambda conn: conn.execute("SELECT pg_sleep(5)"), retry_safe=True)
    assert time.monotonic() - started < 3
    assert app.run(lambda conn: conn.execute("SELECT 1").fetchone(), retry_safe=True) == (1,)


def terminate_app_backends(cluster: Cluster) -> int:
    rows = cluster.postgres.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
        (APP_USER,),
    )
    return len(rows)


@pytest.mark.parametrize("through_pooler", [True, False], ids=["pgbouncer", "direct"])
def test_killed_server_connection_is_recovered_without_a_failed_request(
    cluster: Cluster, first_migration: migration.MigrationResult, through_pooler: bool
) -> None:
    database = cluster.app_database(through_pooler=through_pooler)
    runtime.set_database(database)
    try:
        customer = str(uuid.uuid4())
        path = f"/customers/{customer}/orders"
        assert api.handler(http("GET", path), CTX)["statusCode"] == 200
        assert terminate_app_backends(cluster) >= 1
        time.sleep(0.2)
        statuses = [api.handler(http("GET", path), CTX)["statusCode"] for _ in range(3)]
        assert statuses == [200, 200, 200]
        if not through_pooler:
            # Without a pooler the client's own connection died: one reconnect and retry.
            assert database.retries == 1
            assert database.connects == 2
    finally:
        runtime.set_database(None)


def test_client_connection_dropped_by_the_pooler_is_retried_on_a_new_connection(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    """What RDS Proxy does on its idle client timeout or a failover: the client socket dies."""
    database = cluster.app_database()
    runtime.set_database(database)
    admin = psycopg.connect(
        cluster.bouncer.conninfo(
            user=cluster.postgres.superuser,
            password=cluster.postgres.superuser_password,
            dbname="pgbouncer",
        ),
        autocommit=True,
    )
    try:
        path = f"/customers/{uuid.uuid4()}/orders"
        assert api.handler(http("GET", path), CTX)["statusCode"] == 200
        admin.execute(f"KILL {cluster.dbname}")
        admin.execute(f"RESUME {cluster.dbname}")
        assert api.handler(http("GET", path), CTX)["statusCode"] == 200
        assert database.retries == 1
        assert database.connects == 2
    finally:
        admin.close()
        runtime.set_database(None)


def test_reconnect_after_the_credential_changes_uses_the_new_credential(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    """Token rotation, emulated: the role's password changes and the token source follows."""
    database = cluster.app_database(through_pooler=False)
    runtime.set_database(database)
    old = cluster.credentials.password
    new = secrets.token_urlsafe(16)
    try:
        path = f"/orders/{uuid.uuid4()}"
        assert api.handler(http("GET", path), CTX)["statusCode"] == 404
        cluster.postgres.execute(f"ALTER ROLE {APP_USER} PASSWORD '{new}'")
        cluster.credentials.password = new
        issued_before = len(cluster.credentials.issued)
        terminate_app_backends(cluster)
        time.sleep(0.2)
        assert api.handler(http("GET", path), CTX)["statusCode"] == 404
        assert cluster.credentials.issued[issued_before:] == [new]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                cluster.postgres.conninfo(user=APP_USER, password=old, dbname=cluster.dbname)
            ).close()
        # Through the pooler too: PgBouncer looks the user up again on the next login.
        pooled = cluster.app_database()
        assert pooled.run(lambda conn: conn.execute("SELECT 1").fetchone(), retry_safe=True) == (1,)
        pooled.close()
    finally:
        runtime.set_database(None)
        cluster.postgres.execute(f"ALTER ROLE {APP_USER} PASSWORD '{old}'")
        cluster.credentials.password = old


def test_unreachable_pooler_fails_fast_with_service_unavailable(cluster: Cluster) -> None:
    settings = replace(cluster.app_settings(), port=1)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match="not reachable"):
        Database(settings, cluster.credentials).run(lambda conn: None, retry_safe=True)
    assert time.monotonic() - started < 5


def test_certificate_not_signed_by_the_bundled_ca_is_refused(cluster: Cluster) -> None:
    # The default sslrootcert is Amazon Root CA 1; the local servers use a test CA.
    settings = replace(cluster.app_settings(), sslrootcert=BUNDLED_CA)
    with pytest.raises(DatabaseUnavailableError) as caught:
        Database(settings, cluster.credentials).run(lambda conn: None, retry_safe=True)
    assert "certificate verify failed" in str(caught.value.__cause__)


# --- idempotency under concurrency -----------------------------------------------------------


def test_concurrent_retries_of_one_create_yield_exactly_one_order(
    cluster: Cluster, first_migration: migration.MigrationResult
) -> None:
    """20 execution environments send the same create at the same moment through PgBouncer."""
    customer = str(uuid.uuid4())
    command = parse_create_order(
        {"customer_id": customer, "items": ITEMS, "idempotency_key": "flash-sale-retry"}
    )
    workers = 20
    barrier = threading.Barrier(workers)
    results: list[service.CreateResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def environment() -> None:
        database = cluster.app_database()
        try:
            database.run(lambda conn: conn.execute("SELECT 1"), retry_safe=True)  # warm
            barrier.wait(timeout=30)
            result = service.create_order(database, command)
            with lock:
                results.append(result)
        except BaseException as exc:  # collected and asserted below
            with lock:
                errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=environment) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == workers
    assert sum(result.created for result in results) == 1
    assert len({result.order.order_id for result in results}) == 1
    assert cluster.sql(
        "SELECT count(*) FROM shop.orders WHERE customer_id = %s", (uuid.UUID(customer),)
    ) == [(1,)]
