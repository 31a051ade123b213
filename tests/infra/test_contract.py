"""orders.contract against the config schema and the synthesized templates (fixture configs).

The contract names each environment variable, route and shared limit once; these tests check
that the config schema takes its limits from it, and that what the stacks render and what the
functions read agree with it, and with each other.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from infra_support import Synthesized

from orders import contract, runtime
from orders.contract import Variable
from orders.handlers import api as api_handler
from orders.handlers import direct as direct_handler
from orders.settings import MigrationSettings
from stacks.config import SECTIONS, ProjectConfig
from stacks.config_fields import Accepts, accepts, schema_fields

pytestmark = pytest.mark.infra

WITH_CONFIG_KEY = [v for v in contract.VARIABLES.values() if v.config_key is not None]
ROOT = Path(__file__).resolve().parents[2]


def config_accepts(key: str) -> Accepts:
    section, name = key.split(".")
    fields = schema_fields(ProjectConfig if section == "project" else SECTIONS[section])
    assert name in fields, f"{key} is not a config key"
    return accepts(fields[name])


def config_value(config: Any, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


@pytest.mark.parametrize("variable", WITH_CONFIG_KEY, ids=lambda v: v.name)
def test_a_variable_accepts_what_its_config_key_accepts(variable: Variable) -> None:
    # The config key takes its limits from the contract: this checks the wiring (the key named
    # in config_key exists and uses this variable's limits, not a neighbour's).
    assert variable.config_key is not None
    key = config_accepts(variable.config_key)
    assert (key.range, key.choices, key.pattern) == (
        variable.range,
        variable.choices,
        variable.pattern,
    )
    assert (variable.range, variable.choices, variable.pattern) != (None, None, None)


# --- each limit is written once: in the contract, never again in the config schema ----------

_BOUNDS = ("ge", "gt", "le", "lt")


def _is_limit_text(value: str) -> bool:
    """A regular expression (anchored) or prose stating a range such as "2..30"."""
    return value.startswith("^") or value.endswith("$") or re.search(r"\d\.\.\d", value) is not None


def limit_literals(source: str) -> set[object]:
    """The validation literals `source` spells out: patterns and range prose, tuples of
    constants (ranges, choices) and the pair of bounds one call is given (`ge=1, le=60`)."""
    found: set[object] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _is_limit_text(node.value):
                found.add(node.value)
        elif isinstance(node, ast.Tuple | ast.List) and node.elts:
            if all(isinstance(e, ast.Constant) for e in node.elts):
                found.add(tuple(e.value for e in node.elts if isinstance(e, ast.Constant)))
        elif isinstance(node, ast.Call):
            bounds = [k.value for k in node.keywords if k.arg in _BOUNDS]
            if len(bounds) == 2 and all(isinstance(b, ast.Constant) for b in bounds):
                found.add(tuple(b.value for b in bounds if isinstance(b, ast.Constant)))
    return found


def test_no_limit_is_written_in_both_the_contract_and_the_config_schema() -> None:
    in_contract = limit_literals((ROOT / "lambda_src/orders/contract.py").read_text())
    in_config = limit_literals((ROOT / "stacks/config.py").read_text())
    assert {contract.IDENTIFIER, contract.CONNECT_TIMEOUT_S, contract.AUTH_MODES} <= in_contract
    assert in_contract & in_config == set(), "import these from orders.contract"


@pytest.mark.parametrize(
    ("contract_source", "config_source"),
    [
        ("V = Variable(range=(100, 600_000))", "x: int = Field(ge=100, le=600_000)"),
        ("V = Variable(range=(100, 600_000))", "x: int = setting('', range=(100, 600_000))"),
        ('IDENTIFIER = r"^[a-z_]+$"', 'x = re.compile(r"^[a-z_]+$")'),
        ('HELP = "letters, 2..30"', 'x = Field(json_schema_extra={"expects": "letters, 2..30"})'),
        ('MODES = ("iam", "secrets")', 'x: Annotated[str, OneOf(("iam", "secrets"))]'),
    ],
)
def test_the_check_sees_a_limit_written_twice(contract_source: str, config_source: str) -> None:
    assert limit_literals(contract_source) & limit_literals(config_source)


# --- each direct action is named once: in the contract, never again in project code ----------

# Project code (what deploys or operates the app); the tests import the names too, but also
# patch service functions that share them (monkeypatch.setattr(service, "get_order", ...)).
PROJECT_CODE = ("app.py", "bench", "lambda_src", "ops", "stacks", "tools")
CONTRACT_FILE = ROOT / "lambda_src/orders/contract.py"


def action_literals(source: str) -> set[str]:
    """The direct actions `source` spells out as string constants."""
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and node.value in contract.DIRECT_ACTIONS
    }


def _project_files() -> Iterator[Path]:
    for name in PROJECT_CODE:
        path = ROOT / name
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def test_the_direct_handler_serves_exactly_the_contracts_actions() -> None:
    assert set(direct_handler._ACTIONS) == set(contract.DIRECT_ACTIONS)
    assert len(set(contract.DIRECT_ACTIONS)) == len(contract.DIRECT_ACTIONS)


def test_no_action_name_is_written_outside_the_contract() -> None:
    assert action_literals(CONTRACT_FILE.read_text()) == set(contract.DIRECT_ACTIONS)
    spelled = {
        str(path.relative_to(ROOT)): found
        for path in _project_files()
        if path != CONTRACT_FILE and (found := action_literals(path.read_text()))
    }
    assert spelled == {}, "import these from orders.contract"


@pytest.mark.parametrize(
    "source",
    [
        'event = {"action": "create_order", "customer_id": c}',
        'ACTIONS = ("list_orders", "create_order")',
        'if action == "get_order": pass',
        'invoke(fn, {"action": "check_endpoints"})',
    ],
)
def test_the_check_sees_an_action_written_again(source: str) -> None:
    assert action_literals(source)


# --- environment: what each function receives == what its handler reads ----------------------


def functions_by_handler(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Each contract function's properties, from whichever stack holds it (the migration
    function lives in the data stack, the app functions in the service stack)."""
    found = [
        r["Properties"]
        for template in (synth.data, synth.service)
        for r in template.find_resources("AWS::Lambda::Function").values()
    ]
    by_handler: dict[str, dict[str, Any]] = {}
    for name, handler in contract.HANDLERS.items():
        (props,) = [p for p in found if p["Handler"] == handler]  # exactly one, in one stack
        by_handler[name] = props
    return by_handler


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every key looked up (present or not)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _app_settings() -> object:
    runtime.set_database(None)
    try:
        return runtime.get_database().settings  # what api and direct build on first use
    finally:
        runtime.set_database(None)


# How each handler builds its settings from the environment.
SETTINGS_OF: dict[str, Callable[[], object]] = {
    contract.API: _app_settings,
    contract.DIRECT: _app_settings,
    contract.MIGRATE: MigrationSettings.from_env,
}


def keys_read(
    function: str, received: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> set[str]:
    """Build ``function``'s settings from ``received`` plus what Lambda adds; the keys read."""
    from_lambda = {v.name: "eu-west-1" for v in contract.variables_for(function, set_by="lambda")}
    env = RecordingEnv({**received, **from_lambda})
    with monkeypatch.context() as patched:
        patched.setattr(os, "environ", env)
        SETTINGS_OF[function]()
    return env.read


def test_the_app_handlers_build_their_settings_through_the_runtime() -> None:
    assert api_handler.get_database is runtime.get_database
    assert direct_handler.get_database is runtime.get_database


def test_recording_env_records_hits_and_misses() -> None:
    env = RecordingEnv({"A": "1"})
    assert env.get("A") == "1"
    assert env.get("B") is None
    assert env.read == {"A", "B"}


def received_env(props: Mapping[str, Any]) -> dict[str, str]:
    """A function's environment; deploy-time references (endpoints, ARNs) as plain strings."""
    variables = props["Environment"]["Variables"]
    return {k: v if isinstance(v, str) else "resolved-at-deploy" for k, v in variables.items()}


def check_keys(synth: Synthesized, monkeypatch: pytest.MonkeyPatch) -> None:
    for function, props in functions_by_handler(synth).items():
        received = received_env(props)
        read = keys_read(function, received, monkeypatch)
        by_powertools = {
            v.name for v in contract.variables_for(function) if v.read_by == "powertools"
        }
        not_from_stack = {v.name for v in contract.variables_for(function) if v.set_by != "stack"}
        # Optional stack variables the stack leaves out in this shape (DB_READ_HOST without a
        # read-only endpoint): read, and absent.
        left_out = {
            v.name
            for v in contract.variables_for(function, set_by="stack")
            if not v.required and v.name not in received
        }
        # THEN every variable the stack sets is read (by our settings or by Powertools), and
        # everything our settings read is set by the stack, by Lambda or is a local override
        assert set(received) - by_powertools == read - not_from_stack - left_out, function
        assert by_powertools <= set(received), function
        assert read <= set(contract.VARIABLES), f"{function} reads {read - set(contract.VARIABLES)}"


def test_each_function_receives_exactly_the_keys_its_handler_reads(
    synth: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_keys(synth, monkeypatch)


def test_in_secrets_mode_too(secrets_mode: Synthesized, monkeypatch: pytest.MonkeyPatch) -> None:
    env = functions_by_handler(secrets_mode)[contract.MIGRATE]["Environment"]["Variables"]
    assert contract.APP_USER_SECRET_ARN.name in env
    check_keys(secrets_mode, monkeypatch)


def test_the_key_check_sees_a_variable_nobody_reads(
    synth: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = received_env(functions_by_handler(synth)[contract.API])
    read = keys_read(contract.API, {**received, "UNUSED": "1"}, monkeypatch)
    assert "UNUSED" not in read
    assert read >= {"DB_HOST", "DB_CONNECT_TIMEOUT_S"}


def test_values_from_config_are_set_as_the_config_says(synth: Synthesized) -> None:
    config = synth.built.config
    for function, props in functions_by_handler(synth).items():
        variables = props["Environment"]["Variables"]
        for variable in contract.variables_for(function, set_by="stack"):
            if variable.config_key is not None:
                expected = str(config_value(config, variable.config_key))
                assert variables[variable.name] == expected, (function, variable.name)
    # The fixture's value is neither old default (5 at runtime, 2 in cdk.json).
    assert config.functions.connect_timeout_s == 3


def test_tracing_is_lambda_active_tracing_without_a_tracer_switch(synth: Synthesized) -> None:
    tracing = synth.built.config.functions.tracing
    for props in functions_by_handler(synth).values():
        assert not [k for k in props["Environment"]["Variables"] if "TRACE" in k]
        if tracing:
            assert props["TracingConfig"] == {"Mode": "Active"}
        else:
            assert "TracingConfig" not in props


# --- routes: the HTTP API and the resolver serve the same ones --------------------------------


def resolver_route_keys() -> set[str]:
    """Routes the api handler's resolver serves, in API Gateway syntax (405 catch routes and
    the trailing-slash twins left out)."""
    keys = set()
    app = api_handler.app
    for route in [*app._static_routes, *app._dynamic_routes]:
        if route.include_in_schema:  # the 405 routes are registered with include_in_schema=False
            path = re.sub(r"<(\w+)>", r"{\1}", route.path.rstrip("/"))
            keys.add(f"{route.method} {path}")
    return keys


def test_the_http_api_and_the_resolver_serve_the_same_routes(synth: Synthesized) -> None:
    routes = synth.service.find_resources("AWS::ApiGatewayV2::Route")
    in_template = {r["Properties"]["RouteKey"] for r in routes.values()}
    assert len(in_template) == len(routes)
    assert in_template == resolver_route_keys()
    assert in_template == {route.route_key for route in contract.ROUTES}


def test_every_other_method_on_a_route_path_is_a_405_route() -> None:
    app = api_handler.app
    catch = {
        (route.method, route.path)
        for route in [*app._static_routes, *app._dynamic_routes]
        if not route.include_in_schema
    }
    for route in contract.ROUTES:
        served = {r.method for r in contract.ROUTES if r.path == route.path}
        for path in (route.resolver_path, f"{route.resolver_path}/"):
            assert {m for m, p in catch if p == path} == set(contract.HTTP_METHODS) - served
