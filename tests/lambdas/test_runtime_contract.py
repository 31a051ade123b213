"""The package's side of orders.contract: who imports what, SQL grants, routes, variable checks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from orders import contract
from orders.contract import Route, Variable
from orders.errors import SettingsError
from orders.settings import MIGRATIONS_DIR

PACKAGE = Path(contract.__file__).resolve().parent
HANDLERS_DIR = PACKAGE / "handlers"


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in ``path`` names (at any depth)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return modules


def test_imported_modules_sees_plain_from_and_nested_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("import a.b\nfrom c import d\ndef f():\n    import e\n")
    assert imported_modules(source) == {"a.b", "c", "e"}


def test_handlers_do_not_import_the_database_driver() -> None:
    handlers = sorted(HANDLERS_DIR.glob("*.py"))
    assert {p.name for p in handlers} >= {"api.py", "direct.py", "migrate.py", "common.py"}
    for path in handlers:
        driver = {m for m in imported_modules(path) if m.split(".")[0] == "psycopg"}
        assert not driver, f"{path.name} imports {driver}; use orders.errors types instead"


def test_no_module_imports_a_tracing_sdk() -> None:
    # Lambda active tracing needs no SDK; the X-Ray SDKs reach end of support on 2027-02-25.
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        tracing = {m for m in imported_modules(path) if m.split(".")[0] == "aws_xray_sdk"}
        assert not tracing, f"{path.name} imports {tracing}"
        assert not re.search(r"\bTracer\b", source), f"{path.name} uses powertools' Tracer"


def test_the_contract_module_uses_only_the_standard_library_and_orders_errors() -> None:
    # The stacks import it: it must not pull the driver or powertools into the CDK app.
    allowed = {"__future__", "re", "collections.abc", "dataclasses", "typing", "orders.errors"}
    assert imported_modules(PACKAGE / "contract.py") <= allowed
    assert imported_modules(PACKAGE / "errors.py") <= {"__future__"}


# --- grants live in the SQL migrations --------------------------------------------------------


def _statements(path: Path) -> list[str]:
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


GRANT_TARGET = re.compile(r"^(GRANT|REVOKE)\b.*\b(?:TO|FROM)\s+(\"?[\w]+\"?)$", re.I)


def test_sql_migrations_grant_only_to_the_contracts_group_role() -> None:
    roles: set[str] = set()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        for statement in _statements(path):
            if re.match(r"^(GRANT|REVOKE)\b", statement, re.I):
                match = GRANT_TARGET.match(statement)
                assert match, f"{path.name}: cannot read the role of {statement!r}"
                roles.add(match.group(2))
                assert not re.search(r"\bALL\b|\bPUBLIC\b", statement, re.I), statement
    assert roles == {contract.APP_GROUP_ROLE}


def test_the_grant_pattern_reads_the_role() -> None:
    match = GRANT_TARGET.match("GRANT SELECT ON shop.orders TO someone_else")
    assert match is not None
    assert match.group(2) == "someone_else"


def _code_strings(path: Path) -> list[str]:
    """String literals of ``path`` other than docstrings."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_migration_code_names_no_schema_object() -> None:
    # A new table's privileges are a new migration file, not an edit of orders/migration.py.
    strings = _code_strings(PACKAGE / "migration.py")
    assert any("REVOKE ALL ON" in s for s in strings), "the check reads the SQL literals"
    assert not [s for s in strings if re.search(r"\bshop\b", s)]


# --- routes -----------------------------------------------------------------------------------


def test_routes_convert_to_resolver_syntax_and_route_keys() -> None:
    route = Route("GET", "/customers/{customer_id}/orders/{order_id}")
    assert route.resolver_path == "/customers/<customer_id>/orders/<order_id>"
    assert route.route_key == "GET /customers/{customer_id}/orders/{order_id}"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GETS", "/orders"), ("ANY", "/orders"), ("GET", "orders"), ("GET", "/orders/<id>")],
)
def test_a_malformed_route_is_refused(method: str, path: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        Route(method, path)


def test_routes_are_unique() -> None:
    keys = [route.route_key for route in contract.ROUTES]
    assert len(keys) == len(set(keys))


# --- variables --------------------------------------------------------------------------------


def test_every_variable_is_declared_once_and_names_known_functions() -> None:
    assert list(contract.VARIABLES) == [v.name for v in contract.VARIABLES.values()]
    for variable in contract.VARIABLES.values():
        assert variable.functions, variable.name
        assert variable.functions <= contract.ALL_FUNCTIONS, variable.name
        assert variable.range is None or (variable.choices, variable.pattern) == (None, None)
        if variable.read_by == "powertools":
            assert variable.name.startswith("POWERTOOLS_"), variable.name
            assert variable.set_by == "stack", variable.name


def test_every_handler_is_named_in_the_contract() -> None:
    for function, handler in contract.HANDLERS.items():
        module, _, attribute = handler.rpartition(".")
        assert Path(PACKAGE.parent, *module.split(".")).with_suffix(".py").is_file(), handler
        assert attribute == "handler"
        assert function in contract.ALL_FUNCTIONS


def test_environment_requires_every_stack_variable_and_nothing_else() -> None:
    values: dict[str, str | int] = {
        v.name: (v.range[0] if v.range else (v.choices[0] if v.choices else "x"))
        for v in contract.variables_for(contract.API, set_by="stack")
    }
    values[contract.POWERTOOLS_SERVICE_NAME.name] = "orders"
    values[contract.DB_NAME.name] = values[contract.DB_USER.name] = "orders"
    rendered = contract.environment(contract.API, values)
    assert rendered[contract.DB_PORT.name] == "1"
    with pytest.raises(ValueError, match="api: missing DB_HOST"):
        contract.environment(contract.API, {k: v for k, v in values.items() if k != "DB_HOST"})
    with pytest.raises(ValueError, match="APP_DB_USER not in the contract for it"):
        contract.environment(contract.API, {**values, "APP_DB_USER": "app"})
    with pytest.raises(ValueError, match="AWS_REGION not in the contract"):
        contract.environment(contract.API, {**values, "AWS_REGION": "eu-west-1"})
    with pytest.raises(ValueError, match="unknown function 'worker'"):
        contract.environment("worker", values)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (contract.DB_CONNECT_TIMEOUT_S, 61, r"DB_CONNECT_TIMEOUT_S=61 is out of range \(1..60\)"),
        (contract.DB_CONNECT_TIMEOUT_S, "2", "expected an integer"),
        (contract.DB_CONNECT_TIMEOUT_S, True, "expected an integer"),
        (contract.DB_AUTH_MODE, "IAM", "DB_AUTH_MODE='IAM' is not one of iam, secrets"),
        (contract.DB_USER, "App", "must be a lower-case identifier"),
        (contract.DB_HOST, "", "expected a non-empty string"),
    ],
)
def test_the_stack_cannot_render_a_value_the_function_would_refuse(
    variable: Variable, value: str | int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        variable.render(value)


def test_rendered_values_read_back_unchanged() -> None:
    for variable, value in (
        (contract.DB_CONNECT_TIMEOUT_S, 7),
        (contract.APP_STATEMENT_TIMEOUT_MS, 600_000),
        (contract.DB_AUTH_MODE, "secrets"),
        (contract.DB_NAME, "orders_db"),
    ):
        env = contract.render({variable.name: value})
        read = variable.integer(env) if variable.range else variable.text(env)
        assert read == value


def test_reading_an_integer_names_the_key_the_value_and_the_range() -> None:
    with pytest.raises(SettingsError, match=r"DB_PORT='five' is not an integer \(1..65535\)"):
        contract.DB_PORT.integer({"DB_PORT": "five"})
    assert contract.DB_PORT.integer({"DB_PORT": " 5432 "}) == 5432
