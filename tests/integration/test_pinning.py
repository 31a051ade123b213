"""The app role never sends what makes RDS Proxy pin a session (PgBouncer cannot show it).

PostgreSQL logs every statement of a throwaway database (log_statement=all, with the user and
application in each line); the migration and every service operation, error paths included,
run against it through the handlers; then the log is searched for the pinning triggers below
and for named protocol-level prepared statements. A control client that sets a GUC and lets
psycopg prepare must be flagged by the same check, so the check is known to bite.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from localpg import LocalPostgres
from orders import contract, migration, runtime
from orders.db import Database
from orders.handlers import api, direct
from orders.settings import DbSettings, MigrationSettings
from tests.integration.events import http
from tests.lambdas.fakes import LambdaContext

# What makes RDS Proxy pin a PostgreSQL session, as data (the list in the AWS guide's
# PostgreSQL section; protocol-level named prepared statements are checked separately).
PINNING_DOC = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html"
    "#rds-proxy-pinning.postgres"
)


@dataclass(frozen=True)
class Trigger:
    name: str
    pattern: re.Pattern[str]


def _t(name: str, regex: str) -> Trigger:
    return Trigger(name, re.compile(regex, re.IGNORECASE | re.DOTALL))


PINNING_TRIGGERS: tuple[Trigger, ...] = (
    _t("SET / RESET", r"^\s*(SET|RESET)\b"),
    _t("set_config()", r"\bset_config\s*\("),
    _t("PREPARE", r"^\s*PREPARE\b"),
    _t("EXECUTE (SQL)", r"^\s*EXECUTE\b"),
    _t("DEALLOCATE", r"^\s*DEALLOCATE\b"),
    _t("DISCARD", r"^\s*DISCARD\b"),
    _t("DECLARE (cursor)", r"^\s*DECLARE\b"),
    _t("LISTEN", r"^\s*LISTEN\b"),
    _t("LOAD", r"^\s*LOAD\b"),
    _t("temporary object", r"\bCREATE\s+(OR\s+REPLACE\s+)?(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\b"),
    _t("nextval()/setval()", r"\b(nextval|setval)\s*\("),
    _t("advisory lock", r"\bpg_(try_)?advisory_(xact_)?lock(_shared)?\s*\("),
)
NAMED_PREPARED = "named prepared statement (protocol level)"

APP_USER = "orders_pin_app"
CONTROL_APP_NAME = "pinning-control"
CTX = LambdaContext()
ITEMS = [{"sku": "PIN-1", "quantity": 1, "unit_price_cents": 500}]
# A log record starts with log_line_prefix ('%m [%p] user=%u db=%d app=%a ', localpg).
_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] "
    r"user=(?P<user>\S*) db=(?P<db>\S*) app=(?P<app>.*?) (?P<level>[A-Z]+):  (?P<msg>.*)$",
    re.DOTALL,
)
_STATEMENT = re.compile(r"^(statement|execute (?P<name>[^:]+)): (?P<sql>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Logged:
    user: str
    db: str
    app: str
    portal: str | None  # the protocol-level statement name, None for a simple query
    sql: str


def read_statements(log: Path, offset: int) -> list[Logged]:
    """Statements logged after ``offset``, one per record (continuation lines joined)."""
    records: list[str] = []
    with log.open(errors="replace") as handle:
        handle.seek(offset)
        for line in handle.read().splitlines():
            if _RECORD.match(line) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
    out = []
    for record in records:
        head = _RECORD.match(record)
        if head is None or head["level"] != "LOG":
            continue
        body = _STATEMENT.match(head["msg"])
        if body is not None:
            out.append(Logged(head["user"], head["db"], head["app"], body["name"], body["sql"]))
    return out


def pinning_findings(statements: list[Logged]) -> list[tuple[str, str]]:
    """(trigger, statement) for every statement that would pin an RDS Proxy session."""
    found = []
    for st in statements:
        if st.portal is not None and st.portal.strip() != "<unnamed>":
            found.append((NAMED_PREPARED, f"execute {st.portal}: {st.sql[:80]}"))
        found += [(t.name, st.sql[:80]) for t in PINNING_TRIGGERS if t.pattern.search(st.sql)]
    return found


@dataclass
class Session:
    postgres: LocalPostgres
    dbname: str
    password: str

    def app_settings(self) -> DbSettings:
        return DbSettings(
            host=self.postgres.host,
            port=self.postgres.port,
            dbname=self.dbname,
            user=APP_USER,
            connect_timeout_s=3,
            sslmode="verify-full",
            sslrootcert=self.postgres.ca_cert_path,
            region="local",
        )


def _migrate(session: Session) -> None:
    pg = session.postgres
    secrets_by_arn = {
        "arn:admin": {"username": pg.superuser, "password": pg.superuser_password},
        "arn:app": {"username": APP_USER, "password": session.password},
    }
    settings = MigrationSettings(
        host=pg.host, port=pg.port, dbname=session.dbname, admin_secret_arn="arn:admin",
        app_user=APP_USER, auth_mode="secrets", app_user_secret_arn="arn:app",
        # statement_timeout below lock_timeout: a query stuck on a lock ends by statement timeout
        statement_timeout_ms=400, lock_timeout_ms=5000, idle_in_transaction_timeout_ms=5000,
        connect_timeout_s=5, sslmode="verify-full", sslrootcert=pg.ca_cert_path, region="local",
    )  # fmt: skip
    migration.run(settings, secrets_by_arn.__getitem__)


def _service_operations(session: Session) -> dict[str, int]:
    """Every handler path that reaches the database (and the ones that must not); statuses."""
    customer = str(uuid.uuid4())
    body = {"customer_id": customer, "items": ITEMS}
    s: dict[str, int] = {}
    s["create"] = api.handler(http("POST", "/orders", body, key="pin-1"), CTX)["statusCode"]
    s["replay"] = api.handler(http("POST", "/orders", body, key="pin-1"), CTX)["statusCode"]
    other = {"customer_id": customer, "items": [{**ITEMS[0], "quantity": 2}]}
    s["conflict"] = api.handler(http("POST", "/orders", other, key="pin-1"), CTX)["statusCode"]
    bad = {"customer_id": "nope", "items": ITEMS}
    s["validation"] = api.handler(http("POST", "/orders", bad, key="pin-2"), CTX)["statusCode"]
    created = api.handler(http("POST", "/orders", body, key="pin-3"), CTX)
    order_id = json.loads(created["body"])["order_id"]
    for _ in range(8):  # more than psycopg's default prepare threshold (5)
        s["get"] = api.handler(http("GET", f"/orders/{order_id}"), CTX)["statusCode"]
        s["list"] = api.handler(http("GET", f"/customers/{customer}/orders"), CTX)["statusCode"]
    s["not_found"] = api.handler(http("GET", f"/orders/{uuid.uuid4()}"), CTX)["statusCode"]
    event = {"action": contract.CREATE_ORDER_ACTION, "customer_id": customer, "items": ITEMS,
             "idempotency_key": "pin-direct"}  # fmt: skip
    s["direct_create"] = direct.handler(event, CTX)["statusCode"]
    s["direct_get"] = direct.handler(
        {"action": contract.GET_ORDER_ACTION, "order_id": order_id}, CTX
    )["statusCode"]
    s["direct_list"] = direct.handler(
        {"action": contract.LIST_ORDERS_ACTION, "customer_id": customer}, CTX
    )["statusCode"]
    s["direct_missing"] = direct.handler(
        {"action": contract.GET_ORDER_ACTION, "order_id": str(uuid.uuid4())}, CTX
    )["statusCode"]
    s["statement_timeout"] = _under_a_held_lock(session, f"/orders/{order_id}")
    s["reconnect"] = _after_terminated_backend(session, f"/customers/{customer}/orders")
    return s


def _under_a_held_lock(session: Session, path: str) -> int:
    with session.postgres.connect(dbname=session.dbname) as admin, admin.transaction():
        admin.execute("LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE")
        return int(api.handler(http("GET", path), CTX)["statusCode"])


def _after_terminated_backend(session: Session, path: str) -> int:
    session.postgres.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_USER,)
    )
    time.sleep(0.2)
    return int(api.handler(http("GET", path), CTX)["statusCode"])


def _control_client(session: Session) -> None:
    """What the functions must not do: a session GUC and psycopg's automatic prepare."""
    conninfo = session.postgres.conninfo(
        user=APP_USER, password=session.password, dbname=session.dbname,
        application_name=CONTROL_APP_NAME,
    )  # fmt: skip
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
        conn.execute("SET statement_timeout = '2s'")
        for _ in range(2):
            conn.execute("SELECT count(*) FROM shop.orders WHERE customer_id = %s", (uuid.uuid4(),))


@pytest.fixture(scope="module")
def logged(postgres: LocalPostgres) -> tuple[list[Logged], dict[str, int], str]:
    log = postgres.log_path
    assert log is not None
    session = Session(postgres, f"pin_{secrets.token_hex(4)}", secrets.token_urlsafe(16))
    postgres.execute(f'CREATE DATABASE "{session.dbname}"')
    # Every statement in this database is logged, with who sent it (log_line_prefix).
    postgres.execute(f"ALTER DATABASE \"{session.dbname}\" SET log_statement = 'all'")
    offset = log.stat().st_size
    _migrate(session)
    database = Database(session.app_settings(), lambda: session.password)
    runtime.set_database(database)
    try:
        statuses = _service_operations(session)
    finally:
        runtime.set_database(None)
    _control_client(session)
    time.sleep(0.3)  # the backends write their log lines as they go; let the last ones land
    return read_statements(log, offset), statuses, session.dbname


def test_every_service_path_ran_with_its_expected_status(
    logged: tuple[list[Logged], dict[str, int], str],
) -> None:
    _, statuses, _ = logged
    assert statuses == {
        "create": 201, "replay": 200, "conflict": 409, "validation": 400, "get": 200,
        "list": 200, "not_found": 404, "direct_create": 201, "direct_get": 200,
        "direct_list": 200, "direct_missing": 404, "statement_timeout": 503, "reconnect": 200,
    }  # fmt: skip


def test_the_app_role_sends_nothing_that_pins_an_rds_proxy_session(
    logged: tuple[list[Logged], dict[str, int], str],
) -> None:
    statements, _, dbname = logged
    app = [s for s in statements if s.user == APP_USER and s.db == dbname]
    service = [s for s in app if s.app != CONTROL_APP_NAME]
    # The log really holds the service's statements (a check that sees nothing proves nothing).
    sqls = " ".join(s.sql for s in service)
    assert "INSERT INTO shop.orders" in sqls
    assert "WHERE order_id = $1" in sqls
    assert "WHERE customer_id = $1" in sqls
    assert len(service) >= 25  # about 29 statements: 16 repeated reads, creates, errors
    assert pinning_findings(service) == [], f"pinning statements, see {PINNING_DOC}"


def test_the_check_flags_a_client_that_sets_a_guc_and_prepares(
    logged: tuple[list[Logged], dict[str, int], str],
) -> None:
    statements, _, dbname = logged
    control = [s for s in statements if s.db == dbname and s.app == CONTROL_APP_NAME]
    kinds = {kind for kind, _ in pinning_findings(control)}
    assert kinds == {"SET / RESET", NAMED_PREPARED}


def test_the_trigger_list_covers_the_documented_conditions() -> None:
    samples = {
        "SET / RESET": "SET search_path = x",
        "set_config()": "SELECT set_config('a.b', '1', false)",
        "PREPARE": "PREPARE q AS SELECT 1",
        "EXECUTE (SQL)": "EXECUTE q",
        "DEALLOCATE": "DEALLOCATE ALL",
        "DISCARD": "DISCARD ALL",
        "DECLARE (cursor)": "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "LISTEN": "LISTEN orders",
        "LOAD": "LOAD 'auto_explain'",
        "temporary object": "CREATE TEMP TABLE t (i int)",
        "nextval()/setval()": "SELECT nextval('s')",
        "advisory lock": "SELECT pg_advisory_lock(1)",
    }
    assert set(samples) == {t.name for t in PINNING_TRIGGERS}
    for name, sql in samples.items():
        found = pinning_findings([Logged("u", "d", "a", None, sql)])
        assert [kind for kind, _ in found] == [name]
    safe = "INSERT INTO shop.orders (customer_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING *"
    assert pinning_findings([Logged("u", "d", "a", "<unnamed>", safe)]) == []
