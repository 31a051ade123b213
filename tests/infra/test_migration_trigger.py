"""Each migration step re-runs when what it applies changes, and only then.

CloudFormation sends a custom resource an Update, which runs its step again, exactly when its
properties change. The migration function serves two: the app-user bootstrap (roles step, data
stack) and the schema migration (schema step, service stack). Each test changes one input on a
copy of lambda_src (or one setting) and compares both custom resources' properties with the
unchanged build's: the step whose inputs changed is updated, the other is left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from service_support import SMALL_CONFIG, MigrationBuilt, build_migration

from orders.contract import ROLES_STEP, SCHEMA_STEP
from stacks.app_builder import LAMBDA_SRC, build_from_context
from stacks.components.migration import MIGRATION_SOURCES, source_hash
from stacks.loader import load
from tests.fixture_config import SMALL, fixture_context

pytestmark = pytest.mark.infra


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of lambda_src (bytecode caches included, as a working tree has them)."""
    target = tmp_path / "lambda_src"
    shutil.copytree(LAMBDA_SRC, target)
    return target


def _sources(root: Path) -> list[Path]:
    """The files the hash reads: the migration sources without bytecode caches."""
    found = []
    for rel in MIGRATION_SOURCES:
        path = root / rel
        found += sorted(path.rglob("*")) if path.is_dir() else [path]
    return sorted(
        p for p in found if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _first_sql(root: Path) -> Path:
    return next(p for p in _sources(root) if p.suffix == ".sql")


def _flip_one_byte(path: Path) -> bytes:
    """Change the middle byte of `path`; return the original content."""
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    path.write_bytes(bytes(changed))
    return original


# --- the hash ------------------------------------------------------------------------------------


def test_a_copy_elsewhere_hashes_like_the_original(copy: Path) -> None:
    # Relative paths only: a deploy from another checkout or a CI runner re-runs nothing.
    assert source_hash(copy) == source_hash(LAMBDA_SRC)


def test_one_changed_byte_in_any_source_file_changes_the_hash(copy: Path) -> None:
    original = source_hash(copy)
    files = _sources(copy)
    # The package ships SQL migrations, Python modules and the CA bundle, and its pinned
    # dependencies ship with it: all of them count.
    assert {".sql", ".py", ".pem", ".txt"} <= {p.suffix for p in files}
    assert copy / "requirements.txt" in files
    for path in files:
        before = _flip_one_byte(path)
        assert source_hash(copy) != original, path.relative_to(copy)
        path.write_bytes(before)
    assert source_hash(copy) == original


def test_adding_removing_or_renaming_a_file_changes_the_hash(copy: Path) -> None:
    original = source_hash(copy)
    sql = _first_sql(copy)
    added = sql.with_name("9999_added.sql")
    added.write_bytes(b"")  # even an empty file: its path is hashed
    assert source_hash(copy) != original
    added.unlink()
    renamed = sql.rename(sql.with_name(f"0{sql.name}"))
    assert source_hash(copy) != original
    renamed.rename(sql)
    content = sql.read_bytes()
    sql.unlink()
    assert source_hash(copy) != original
    sql.write_bytes(content)
    assert source_hash(copy) == original


def test_bytecode_caches_do_not_change_the_hash(copy: Path) -> None:
    original = source_hash(copy)
    package = copy / MIGRATION_SOURCES[0]
    for cache in (package / "__pycache__", package / "handlers" / "__pycache__"):
        cache.mkdir(exist_ok=True)
        (cache / "new.cpython-314.pyc").write_bytes(b"\x00bytecode")
        for pyc in cache.glob("*.pyc"):
            pyc.write_bytes(pyc.read_bytes() + b"\x00")
    (package / "stray.pyc").write_bytes(b"\x00bytecode")
    assert source_hash(copy) == original


# --- the custom resource: an Update exactly when an input changes --------------------------------


@pytest.fixture(scope="module")
def unchanged() -> MigrationBuilt:
    return build_migration("Unchanged", SMALL_CONFIG)


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _changes(before: MigrationBuilt, after: MigrationBuilt) -> dict[str, set[str]]:
    """Step -> the properties of its custom resource that differ (empty: no Update)."""
    assert set(before.triggers) == set(after.triggers) == {ROLES_STEP, SCHEMA_STEP}
    return {
        step: _changed_keys(before.trigger(step), after.trigger(step)) for step in before.triggers
    }


def test_an_unchanged_copy_sends_no_update(copy: Path, unchanged: MigrationBuilt) -> None:
    again = build_migration("Again", SMALL_CONFIG, lambda_src=copy)
    assert again.triggers == unchanged.triggers
    assert _changes(unchanged, again) == {ROLES_STEP: set(), SCHEMA_STEP: set()}


def test_a_changed_file_of_the_copy_sends_an_update(copy: Path, unchanged: MigrationBuilt) -> None:
    # New code may bring new SQL or new role handling: both steps re-run.
    _flip_one_byte(_first_sql(copy))
    changed = build_migration("ChangedSql", SMALL_CONFIG, lambda_src=copy)
    assert _changes(unchanged, changed) == {ROLES_STEP: {"SourceHash"}, SCHEMA_STEP: {"SourceHash"}}
    for step in (ROLES_STEP, SCHEMA_STEP):
        assert changed.trigger(step)["SourceHash"] == source_hash(copy), step


ROLE_SETTINGS = [
    ("app_role", "statement_timeout_ms", 6001, "APP_STATEMENT_TIMEOUT_MS"),
    ("app_role", "lock_timeout_ms", 1501, "APP_LOCK_TIMEOUT_MS"),
    ("app_role", "idle_in_transaction_timeout_ms", 20001, "APP_IDLE_IN_TRANSACTION_TIMEOUT_MS"),
    ("proxy", "app_db_user", "shop_app2", "APP_DB_USER"),
]


@pytest.mark.parametrize(
    ("section", "key", "value", "prop"), ROLE_SETTINGS, ids=[s[1] for s in ROLE_SETTINGS]
)
def test_a_changed_role_setting_sends_an_update(
    unchanged: MigrationBuilt, section: str, key: str, value: str | int, prop: str
) -> None:
    # The bootstrap re-applies the role; the schema migration is left alone.
    config = load(SMALL, fixture_context(small={section: {key: value}}))
    changed = build_migration(key.title().replace("_", ""), config)
    assert _changes(unchanged, changed) == {ROLES_STEP: {prop}, SCHEMA_STEP: set()}
    assert changed.trigger(ROLES_STEP)[prop] == str(value)


def test_a_changed_database_name_sends_an_update_to_both(unchanged: MigrationBuilt) -> None:
    # Another database: it needs its app user and its schema.
    config = load(SMALL, fixture_context(small={"database": {"database_name": "shopdb2"}}))
    changed = build_migration("DatabaseName", config)
    assert _changes(unchanged, changed) == {ROLES_STEP: {"DB_NAME"}, SCHEMA_STEP: {"DB_NAME"}}
    for step in (ROLES_STEP, SCHEMA_STEP):
        assert changed.trigger(step)["DB_NAME"] == "shopdb2", step


def test_a_replaced_database_sends_an_update(unchanged: MigrationBuilt) -> None:
    moved = build_migration("Moved", SMALL_CONFIG, db_host="shop-db-2.c0ffee.example.com")
    assert _changes(unchanged, moved) == {ROLES_STEP: {"DB_HOST"}, SCHEMA_STEP: {"DB_HOST"}}


def test_both_stacks_hash_the_lambda_src_they_are_given(copy: Path) -> None:
    # The whole app, as app.py builds it, with `lambda_src` pointing at a changed copy: the data
    # stack's bootstrap and the service stack's schema migration both carry the copy's hash.
    _flip_one_byte(_first_sql(copy))
    built = build_from_context(fixture_context(), SMALL, lambda_src=copy)
    steps = {}
    for stack in (built.data, built.service):
        resources = Template.from_stack(stack).to_json()["Resources"]
        (custom,) = [r for r in resources.values() if r["Type"] == "Custom::ShopMigration"]
        steps[custom["Properties"]["Step"]] = custom["Properties"]["SourceHash"]
    assert steps == {ROLES_STEP: source_hash(copy), SCHEMA_STEP: source_hash(copy)}
    assert source_hash(copy) != source_hash(LAMBDA_SRC)


def test_caches_and_build_leftovers_the_asset_excludes_do_not_change_the_hash(copy: Path) -> None:
    original = source_hash(copy)
    for leftover in (".mypy_cache/x.json", "orders.egg-info/PKG-INFO", ".DS_Store"):
        path = copy / "orders" / leftover
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not shipped")
    assert source_hash(copy) == original


def test_a_replaced_app_user_secret_sends_an_update(monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets mode: the bootstrap sets the app user's password from the secret; a replaced
    # secret (new ARN, new password) must re-run it, or the proxy logs in with a password the
    # database never got. The schema does not depend on it.
    import service_support  # noqa: PLC0415

    secrets = load(SMALL, fixture_context(small={"proxy": {"auth_mode": "secrets"}}))
    before = build_migration("SecretA", secrets)
    replaced = service_support.APP_SECRET_ARN.replace("GhIjKl", "MnOpQr")
    monkeypatch.setattr(service_support, "APP_SECRET_ARN", replaced)
    after = build_migration("SecretB", secrets)
    assert _changes(before, after) == {ROLES_STEP: {"APP_USER_SECRET_ARN"}, SCHEMA_STEP: set()}
    assert after.trigger(ROLES_STEP)["APP_USER_SECRET_ARN"] == replaced
