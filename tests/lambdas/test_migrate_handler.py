"""Migration custom resource: Delete is a no-op, failures raise a clear message, ids are stable."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from yoyo import read_migrations  # type: ignore[import-untyped]

from orders import migration
from orders import settings as settings_module
from orders.handlers import migrate
from orders.migration import MigrationError, MigrationResult, SecretsManagerFetcher
from orders.settings import BUNDLED_CA, MIGRATIONS_DIR, MigrationSettings
from tests.lambdas.fakes import LambdaContext

ENV = {
    "DB_HOST": "db.example.internal",
    "DB_PORT": "5432",
    "DB_NAME": "orders",
    "DB_ADMIN_SECRET_ARN": "arn:admin",
    "APP_DB_USER": "orders_app",
    "DB_AUTH_MODE": "iam",
    "APP_STATEMENT_TIMEOUT_MS": "3000",
    "APP_LOCK_TIMEOUT_MS": "1000",
    "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
    "DB_CONNECT_TIMEOUT_S": "5",
    "AWS_REGION": "eu-west-1",
}


@pytest.fixture
def migrate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def test_delete_is_a_no_op_that_needs_no_configuration_or_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(migration, "run", lambda *a: pytest.fail("Delete must not migrate"))
    event = {"RequestType": "Delete", "PhysicalResourceId": "orders-schema-orders"}
    assert migrate.handler(event, LambdaContext()) == {"PhysicalResourceId": "orders-schema-orders"}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
@pytest.mark.parametrize(
    ("step", "data"),
    [
        ("roles", {"RoleChanges": "create-role"}),
        (
            "schema",
            {
                "SchemaVersion": "0001_create_orders",
                "AppliedMigrations": "0001_create_orders",
                "RoleChanges": "none",
            },
        ),
    ],
)
def test_create_and_update_run_the_named_step_and_return_a_stable_physical_id_with_string_data(
    migrate_env: None,
    monkeypatch: pytest.MonkeyPatch,
    request_type: str,
    step: str,
    data: dict[str, str],
) -> None:
    seen: list[tuple[MigrationSettings, tuple[str, ...]]] = []

    def fake_run(
        settings: MigrationSettings, secrets: Any, steps: tuple[str, ...]
    ) -> MigrationResult:
        seen.append((settings, steps))
        if steps == ("roles",):
            return MigrationResult(None, None, ["create-role"])
        return MigrationResult(["0001_create_orders"], "0001_create_orders", [])

    monkeypatch.setattr(migration, "run", fake_run)
    result = migrate.handler(
        {"RequestType": request_type, "ResourceProperties": {"Step": step, "Version": "1"}},
        LambdaContext(),
    )
    assert result["PhysicalResourceId"] == f"orders-{step}-orders"
    assert result["Data"] == data
    assert seen[0][0].auth_mode == "iam"
    assert seen[0][1] == (step,)


@pytest.mark.parametrize("properties", [None, {}, {"Step": "all"}, {"Step": ["roles"]}])
def test_a_missing_or_unknown_step_fails_clearly_without_touching_the_database(
    migrate_env: None, monkeypatch: pytest.MonkeyPatch, properties: dict[str, Any] | None
) -> None:
    monkeypatch.setattr(migration, "run", lambda *a: pytest.fail("must not migrate"))
    event: dict[str, Any] = {"RequestType": "Update"}
    if properties is not None:
        event["ResourceProperties"] = properties
    with pytest.raises(
        MigrationError, match=r"ResourceProperties\.Step must be one of roles, schema"
    ):
        migrate.handler(event, LambdaContext())


def test_missing_configuration_fails_with_a_message_naming_the_variable(
    migrate_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DB_ADMIN_SECRET_ARN")
    with pytest.raises(MigrationError, match="misconfigured: DB_ADMIN_SECRET_ARN is required"):
        migrate.handler(
            {"RequestType": "Create", "ResourceProperties": {"Step": "roles"}}, LambdaContext()
        )


def test_an_unknown_request_type_fails_clearly(migrate_env: None) -> None:
    with pytest.raises(MigrationError, match="RequestType must be Create, Update or Delete"):
        migrate.handler({"RequestType": "Upsert"}, LambdaContext())


def test_an_unexpected_error_is_reraised_as_a_migration_error_with_its_reason(
    migrate_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(settings: MigrationSettings, secrets: Any, steps: Any) -> MigrationResult:
        raise KeyError("surprise")

    monkeypatch.setattr(migration, "run", boom)
    with pytest.raises(MigrationError, match="migration failed: KeyError"):
        migrate.handler(
            {"RequestType": "Create", "ResourceProperties": {"Step": "schema"}}, LambdaContext()
        )


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ({"username": "admin"}, "must hold non-empty 'username' and 'password'"),
        ({"username": "", "password": "x"}, "must hold non-empty"),
    ],
)
def test_an_incomplete_admin_secret_fails_without_echoing_it(
    migrate_env: None, secret: dict[str, Any], message: str
) -> None:
    settings = MigrationSettings.from_env()
    with pytest.raises(MigrationError, match=message) as caught:
        migration.run(settings, lambda arn: secret)
    assert "password" not in str(caught.value).replace("'password'", "")


def test_the_app_secret_must_belong_to_app_db_user(
    migrate_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_AUTH_MODE", "secrets")
    monkeypatch.setenv("APP_USER_SECRET_ARN", "arn:app")
    secrets = {
        "arn:admin": {"username": "admin", "password": "a"},
        "arn:app": {"username": "someone_else", "password": "b"},
    }
    with pytest.raises(MigrationError, match="is for user 'someone_else'"):
        migration.run(MigrationSettings.from_env(), secrets.__getitem__)


def test_secrets_manager_failure_names_the_secret_and_the_likely_causes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FailingClient:
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:
            raise TimeoutError("connect timeout")

    fetcher = SecretsManagerFetcher(region="eu-west-1")
    fetcher._client = FailingClient()  # type: ignore[assignment]
    with pytest.raises(MigrationError, match=r"could not read secret arn:admin .*reachable"):
        fetcher("arn:admin")


def test_a_secret_that_is_not_json_is_rejected() -> None:
    class Client:
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:
            return {"SecretString": "hunter2"}

    fetcher = SecretsManagerFetcher(region="eu-west-1")
    fetcher._client = Client()  # type: ignore[assignment]
    with pytest.raises(MigrationError, match="is not a JSON object"):
        fetcher("arn:admin")


def test_yoyo_reads_every_migration_and_each_has_a_rollback() -> None:
    migrations = read_migrations(str(MIGRATIONS_DIR))
    ids = [m.id for m in migrations]
    assert ids == sorted(ids)
    assert ids, "no migrations found"
    for migration_id in ids:
        assert (MIGRATIONS_DIR / f"{migration_id}.rollback.sql").is_file()
    assert migration.latest_version() == ids[-1]


def test_migrations_use_no_sequences_because_nextval_pins_proxy_sessions() -> None:
    forbidden = re.compile(r"\b(serial|bigserial|smallserial|identity|nextval|sequence)\b", re.I)
    for path in MIGRATIONS_DIR.glob("*.sql"):
        sql = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
        )
        assert not forbidden.search(sql), f"{path.name} uses a sequence"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _run_until_first_connect(settings: MigrationSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """migration.run as far as its connections: each connect fails, so no database is needed."""
    connects: list[dict[str, Any]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        connects.append(kwargs)
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(migration, "apply_schema_migrations", lambda *args: [])
    monkeypatch.setattr(psycopg.Connection, "connect", refuse)
    secret = {"username": "admin", "password": "pw"}
    with pytest.raises(MigrationError, match="connection refused"):
        migration.run(settings, lambda arn: secret)
    assert connects[0]["sslmode"] == settings.sslmode


def test_without_the_rds_ca_bundle_the_migration_warns_once_naming_make_rds_ca(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", tmp_path / "absent.pem")
    settings = MigrationSettings.from_env(ENV)
    assert settings.sslmode == "require"
    _run_until_first_connect(settings, monkeypatch)
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "make rds-ca" in warnings[0]
    assert "sslmode=require" in warnings[0]


def test_with_the_rds_ca_bundle_the_migration_verifies_and_does_not_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    bundle = tmp_path / "rds-global-bundle.pem"
    bundle.write_text(BUNDLED_CA.read_text())
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", bundle)
    settings = MigrationSettings.from_env(ENV)
    assert (settings.sslmode, settings.sslrootcert) == ("verify-full", bundle)
    _run_until_first_connect(settings, monkeypatch)
    assert _warnings(caplog) == []
