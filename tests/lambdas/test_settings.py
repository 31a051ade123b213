"""Settings: frozen, built from the environment, errors name the key, the value and the range."""

from __future__ import annotations

import dataclasses
import hashlib
import ssl
import typing
from pathlib import Path

import pytest

from orders import contract
from orders import settings as settings_module
from orders.errors import SettingsError
from orders.settings import BUNDLED_CA, RDS_CA_BUNDLE, DbSettings, MigrationSettings, SslMode

AMAZON_ROOT_CA_1_SHA256 = "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"

APP_ENV = {
    "DB_HOST": "proxy.example.internal",
    "DB_PORT": "5432",
    "DB_NAME": "orders",
    "DB_USER": "orders_app",
    "DB_CONNECT_TIMEOUT_S": "4",
    "AWS_REGION": "eu-west-1",
}
MIGRATE_ENV = {
    "DB_HOST": "db.example.internal",
    "DB_PORT": "5432",
    "DB_NAME": "orders",
    "DB_ADMIN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin",
    "APP_DB_USER": "orders_app",
    "DB_AUTH_MODE": "iam",
    "APP_STATEMENT_TIMEOUT_MS": "3000",
    "APP_LOCK_TIMEOUT_MS": "1000",
    "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
    "DB_CONNECT_TIMEOUT_S": "5",
    "AWS_REGION": "eu-west-1",
}


def test_app_settings_default_to_verify_full_against_the_bundled_amazon_root_ca() -> None:
    settings = DbSettings.from_env(APP_ENV)
    assert settings.sslmode == "verify-full"
    assert settings.sslrootcert == BUNDLED_CA
    assert settings.connect_timeout_s == 4
    assert settings.region == "eu-west-1"


def test_bundled_ca_is_amazon_root_ca_1() -> None:
    der = ssl.PEM_cert_to_DER_cert(BUNDLED_CA.read_text())
    assert hashlib.sha256(der).hexdigest() == AMAZON_ROOT_CA_1_SHA256


def test_settings_are_frozen() -> None:
    settings = DbSettings.from_env(APP_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.host = "elsewhere"  # type: ignore[misc]


def _required_from_the_stack(function: str) -> list[str]:
    return [
        v.name
        for v in contract.variables_for(function, set_by="stack")
        if v.read_by == "settings" and v.required
    ]


@pytest.mark.parametrize(
    ("settings_class", "env", "key"),
    [(DbSettings, APP_ENV, key) for key in _required_from_the_stack(contract.API)]
    + [(MigrationSettings, MIGRATE_ENV, key) for key in _required_from_the_stack(contract.MIGRATE)]
    + [(DbSettings, APP_ENV, "AWS_REGION"), (MigrationSettings, MIGRATE_ENV, "AWS_REGION")],
)
def test_what_the_stack_always_sets_has_no_runtime_default(
    settings_class: type[DbSettings] | type[MigrationSettings], env: dict[str, str], key: str
) -> None:
    # GIVEN the function's environment without one variable the stack (or Lambda) always sets
    # THEN reading the settings fails naming it, instead of running on a default that may
    # differ from the config (DB_CONNECT_TIMEOUT_S used to default to 5 here and 2 in config)
    assert key in env
    without = {k: v for k, v in env.items() if k != key}
    with pytest.raises(SettingsError, match=f"^{key} is required"):
        settings_class.from_env(without)
    with pytest.raises(SettingsError, match=f"^{key} is required"):
        settings_class.from_env({**without, key: "  "})


def test_the_tls_modes_the_contract_accepts_are_the_settings_type() -> None:
    assert contract.DB_SSLMODE.choices == typing.get_args(SslMode)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("DB_PORT", "70000", r"DB_PORT=70000 is out of range \(1..65535\)"),
        ("DB_PORT", "five", r"DB_PORT='five' is not an integer"),
        ("DB_CONNECT_TIMEOUT_S", "0", r"DB_CONNECT_TIMEOUT_S=0 is out of range \(1..60\)"),
        ("DB_SSLMODE", "verify_full", r"DB_SSLMODE='verify_full' is not one of"),
        ("DB_SSLROOTCERT", "/nonexistent/ca.pem", r"DB_SSLROOTCERT='/nonexistent/ca.pem'"),
    ],
)
def test_invalid_value_names_key_value_and_allowed_range(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        DbSettings.from_env({**APP_ENV, key: value})


def test_migration_settings_in_iam_mode_need_no_app_secret() -> None:
    settings = MigrationSettings.from_env(MIGRATE_ENV)
    assert settings.auth_mode == "iam"
    assert settings.app_user_secret_arn is None
    assert (settings.statement_timeout_ms, settings.lock_timeout_ms) == (3000, 1000)
    assert settings.idle_in_transaction_timeout_ms == 5000


def test_migration_in_secrets_mode_requires_the_app_user_secret() -> None:
    with pytest.raises(SettingsError, match="APP_USER_SECRET_ARN is required"):
        MigrationSettings.from_env({**MIGRATE_ENV, "DB_AUTH_MODE": "secrets"})


def test_migration_in_iam_mode_ignores_an_app_user_secret() -> None:
    settings = MigrationSettings.from_env({**MIGRATE_ENV, "APP_USER_SECRET_ARN": "arn:app"})
    assert settings.app_user_secret_arn is None


def test_migration_in_secrets_mode_reads_the_app_user_secret() -> None:
    env = {**MIGRATE_ENV, "DB_AUTH_MODE": "secrets", "APP_USER_SECRET_ARN": "arn:app"}
    assert MigrationSettings.from_env(env).app_user_secret_arn == "arn:app"


def test_the_app_user_cannot_be_the_group_role() -> None:
    with pytest.raises(SettingsError, match="is reserved: it is the app's group role"):
        MigrationSettings.from_env({**MIGRATE_ENV, "APP_DB_USER": contract.APP_GROUP_ROLE})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("APP_STATEMENT_TIMEOUT_MS", "99", r"APP_STATEMENT_TIMEOUT_MS=99 is out of range"),
        ("APP_LOCK_TIMEOUT_MS", "600001", r"\(100..600000\)"),
        ("APP_IDLE_IN_TRANSACTION_TIMEOUT_MS", "999", r"\(1000..3600000\)"),
        ("DB_NAME", "Orders", r"DB_NAME='Orders' must be a lower-case identifier"),
    ],
)
def test_migration_settings_accept_the_ranges_the_config_accepts(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        MigrationSettings.from_env({**MIGRATE_ENV, key: value})


def test_migration_rejects_an_unknown_auth_mode() -> None:
    with pytest.raises(SettingsError, match="DB_AUTH_MODE='password' is not one of iam, secrets"):
        MigrationSettings.from_env({**MIGRATE_ENV, "DB_AUTH_MODE": "password"})


@pytest.mark.parametrize("user", ['app"; DROP ROLE admin; --', "a" * 64, "app-user"])
def test_migration_rejects_an_app_user_that_is_not_a_plain_identifier(user: str) -> None:
    with pytest.raises(SettingsError, match="APP_DB_USER"):
        MigrationSettings.from_env({**MIGRATE_ENV, "APP_DB_USER": user})


@pytest.fixture
def rds_ca_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the package looks for `make rds-ca`'s bundle; nothing there until a test writes it."""
    path = tmp_path / "rds-global-bundle.pem"
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", path)
    return path


def test_the_rds_ca_bundle_lives_in_the_package_where_make_rds_ca_writes_it() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert RDS_CA_BUNDLE.parent == BUNDLED_CA.parent
    assert f"-o lambda_src/orders/certs/{RDS_CA_BUNDLE.name}" in makefile


def test_migration_to_the_instance_defaults_to_encrypted_tls_without_a_ca_bundle(
    rds_ca_path: Path,
) -> None:
    # The instance presents an RDS CA certificate, which Amazon Root CA 1 does not verify.
    settings = MigrationSettings.from_env(MIGRATE_ENV)
    assert settings.sslmode == "require"
    assert settings.sslrootcert is None


def test_migration_verifies_the_instance_when_the_rds_ca_bundle_is_bundled(
    rds_ca_path: Path,
) -> None:
    rds_ca_path.write_text(BUNDLED_CA.read_text())  # any PEM stands in for the RDS bundle
    settings = MigrationSettings.from_env(MIGRATE_ENV)
    assert settings.sslmode == "verify-full"
    assert settings.sslrootcert == rds_ca_path


def test_a_bundle_that_is_not_pem_fails_instead_of_silently_downgrading(rds_ca_path: Path) -> None:
    rds_ca_path.write_text("<html>Access Denied</html>")
    with pytest.raises(SettingsError, match=r"holds no PEM certificate; run `make rds-ca` again"):
        MigrationSettings.from_env(MIGRATE_ENV)


def test_migration_verifies_the_instance_when_given_a_ca_bundle(rds_ca_path: Path) -> None:
    rds_ca_path.write_text(BUNDLED_CA.read_text())
    settings = MigrationSettings.from_env({**MIGRATE_ENV, "DB_SSLROOTCERT": str(BUNDLED_CA)})
    assert settings.sslmode == "verify-full"
    assert settings.sslrootcert == BUNDLED_CA  # an explicit DB_SSLROOTCERT wins


def test_an_explicit_sslmode_overrides_the_bundle_default(rds_ca_path: Path) -> None:
    rds_ca_path.write_text(BUNDLED_CA.read_text())
    settings = MigrationSettings.from_env({**MIGRATE_ENV, "DB_SSLMODE": "require"})
    assert (settings.sslmode, settings.sslrootcert) == ("require", rds_ca_path)
