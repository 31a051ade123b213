"""What the stacks and the functions share: environment variables, HTTP routes, the DB group role.

Standard library only: the stacks import it as ``orders.contract`` (installed editable by make
setup) to set variables and routes, and the functions read through it, so a variable, a route or
a role name is written once. The limits a variable shares with the config key named in its
``config_key`` (patterns, ranges, choices) are defined here and nowhere else: the config schema
(stacks/config.py) imports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from orders.errors import SettingsError

# --- functions ------------------------------------------------------------------------------

API, DIRECT, MIGRATE = "api", "direct", "migrate"
APP_FUNCTIONS = frozenset({API, DIRECT})
ALL_FUNCTIONS = frozenset({API, DIRECT, MIGRATE})
HANDLERS = {
    API: "orders.handlers.api.handler",
    DIRECT: "orders.handlers.direct.handler",
    MIGRATE: "orders.handlers.migrate.handler",
}

# --- direct-invoke actions ------------------------------------------------------------------

# The direct function's {"action": ...} values (orders/handlers/direct.py maps each to its
# handler); make smoke (ops/smoke.py) and make burst (ops/burst.py) invoke them by these names.
CREATE_ORDER_ACTION = "create_order"
GET_ORDER_ACTION = "get_order"
LIST_ORDERS_ACTION = "list_orders"
# Asks each proxy endpoint whether it answers and whether a replica answered (make smoke):
# {"writer": {...}, "reader": {...} | null}.
CHECK_ENDPOINTS_ACTION = "check_endpoints"
DIRECT_ACTIONS = (
    CREATE_ORDER_ACTION,
    GET_ORDER_ACTION,
    LIST_ORDERS_ACTION,
    CHECK_ENDPOINTS_ACTION,
)

# --- the functions' own metrics (Powertools EMF) -------------------------------------------

# Every metric the api and direct functions emit carries `service` (POWERTOOLS_SERVICE_NAME) and
# this default dimension, whose value is the entry point (API or DIRECT): the alarms on handled
# failures (stacks/components/monitoring.py) read exactly this dimension set.
ENTRYPOINT_DIMENSION = "entrypoint"
SERVER_ERRORS_METRIC = "ServerErrors"  # answers with a 5xx status (handled: not Lambda Errors)
CLIENT_ERRORS_METRIC = "ClientErrors"  # answers with a 4xx status

# --- database roles -------------------------------------------------------------------------

# A NOLOGIN role that owns the app's privileges. The migration creates it before any SQL
# migration runs and makes the app user a member; migrations GRANT to it, so a new table's
# grants live in the migration file that creates the table.
APP_GROUP_ROLE = "orders_app_group"

# --- deploy-time migration steps ------------------------------------------------------------

# The migration function serves two custom resources; each names the step it runs in this
# resource property. The data stack runs ROLES_STEP (group role, app user, its login, timeouts
# and grants) before the proxy target group, which waits for a target it can log in to; the
# service stack runs SCHEMA_STEP (the SQL migrations) before the app functions.
MIGRATION_STEP_PROPERTY = "Step"
ROLES_STEP, SCHEMA_STEP = "roles", "schema"
MIGRATION_STEPS = (ROLES_STEP, SCHEMA_STEP)  # the order a first deploy runs them in

# --- environment variables ------------------------------------------------------------------

SetBy = Literal["stack", "lambda", "local"]
ReadBy = Literal["settings", "powertools"]

# What the config schema checks at synth and the functions check at runtime: one definition.
IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"
IDENTIFIER_HELP = "a lower-case identifier (1..63 letters, digits, underscores)"
SERVICE_NAME = r"^[a-z][a-z0-9]{1,29}$"
SERVICE_NAME_HELP = "lower-case letters and digits, 2..30"
AUTH_MODES = ("iam", "secrets")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
CONNECT_TIMEOUT_S = (1, 60)
STATEMENT_TIMEOUT_MS = (100, 600_000)
LOCK_TIMEOUT_MS = (100, 600_000)
IDLE_IN_TRANSACTION_TIMEOUT_MS = (1000, 3_600_000)
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True, kw_only=True, slots=True)
class Variable:
    """One environment variable: who sets it, who reads it, which functions get it, its values.

    ``set_by``: "stack" (the constructs set it on every function listed), "lambda" (the Lambda
    runtime does) or "local" (an override for tests and local runs; the stacks never set it).
    ``read_by``: our settings, or Powertools (the stack sets it; Powertools reads it).
    ``required``: missing or empty at runtime is a SettingsError (read_by "settings" only).
    ``config_key``: the config field whose value the stack passes, e.g. "functions.log_level".
    An integer variable has a ``range``; a string one may have ``choices`` or a ``pattern``.
    """

    name: str
    doc: str
    functions: frozenset[str]
    set_by: SetBy = "stack"
    read_by: ReadBy = "settings"
    required: bool = True
    config_key: str | None = None
    range: tuple[int, int] | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_help: str = ""

    def _raw(self, env: Mapping[str, str]) -> str | None:
        value = env.get(self.name, "").strip()
        return value or None

    def text(self, env: Mapping[str, str]) -> str:
        """The value of a required string variable, checked against its choices or pattern."""
        value = self.optional_text(env)
        if value is None:
            raise SettingsError(f"{self.name} is required and must not be empty")
        return value

    def optional_text(self, env: Mapping[str, str]) -> str | None:
        value = self._raw(env)
        if value is not None:
            self._check_text(value, SettingsError)
        return value

    def integer(self, env: Mapping[str, str]) -> int:
        """The value of a required integer variable within its range."""
        assert self.range is not None, f"{self.name} is not an integer variable"  # noqa: S101
        low, high = self.range
        raw = self._raw(env)
        if raw is None:
            raise SettingsError(f"{self.name} is required (an integer from {low} to {high})")
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{self.name}={raw!r} is not an integer ({low}..{high})") from None
        self._check_int(value, SettingsError)
        return value

    def render(self, value: str | int) -> str:
        """The string the stack sets, after the same checks the function makes when reading."""
        if self.range is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{self.name}: expected an integer, got {value!r}")
            self._check_int(value, ValueError)
            return str(value)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{self.name}: expected a non-empty string, got {value!r}")
        self._check_text(value, ValueError)
        return value

    def _check_int(self, value: int, error: type[Exception]) -> None:
        assert self.range is not None  # noqa: S101  # callers check
        low, high = self.range
        if not low <= value <= high:
            raise error(f"{self.name}={value} is out of range ({low}..{high})")

    def _check_text(self, value: str, error: type[Exception]) -> None:
        if self.choices is not None and value not in self.choices:
            raise error(f"{self.name}={value!r} is not one of {', '.join(self.choices)}")
        if self.pattern is not None and not re.match(self.pattern, value):
            raise error(f"{self.name}={value!r} must be {self.pattern_help}")


_APP, _MIG, _ALL = APP_FUNCTIONS, frozenset({MIGRATE}), ALL_FUNCTIONS

DB_HOST = Variable(
    name="DB_HOST",
    doc="Proxy endpoint (app functions; the IAM token is signed for it) or instance endpoint "
    "(migration)",
    functions=_ALL,
)
DB_PORT = Variable(name="DB_PORT", doc="Port of DB_HOST", functions=_ALL, range=(1, 65535))
DB_READ_HOST = Variable(
    name="DB_READ_HOST",
    doc="Read-only proxy endpoint (Aurora with readers): reads go there, and to DB_HOST when it "
    "is unreachable or misses a row the writer may have just written; unset: everything on DB_HOST",
    functions=_APP,
    required=False,
)
DB_NAME = Variable(
    name="DB_NAME",
    doc="Database name",
    functions=_ALL,
    config_key="database.database_name",
    pattern=IDENTIFIER,
    pattern_help=IDENTIFIER_HELP,
)
DB_USER = Variable(
    name="DB_USER",
    doc="Role the app functions log in as (the dbuser of rds-db:connect)",
    functions=_APP,
    config_key="proxy.app_db_user",
    pattern=IDENTIFIER,
    pattern_help=IDENTIFIER_HELP,
)
DB_CONNECT_TIMEOUT_S = Variable(
    name="DB_CONNECT_TIMEOUT_S",
    doc="Driver connect timeout in seconds (libpq treats values below 2 as 2)",
    functions=_ALL,
    config_key="functions.connect_timeout_s",
    range=CONNECT_TIMEOUT_S,
)
DB_ADMIN_SECRET_ARN = Variable(
    name="DB_ADMIN_SECRET_ARN",
    doc="Secrets Manager secret (JSON username, password) of the admin user",
    functions=_MIG,
)
APP_DB_USER = Variable(
    name="APP_DB_USER",
    doc="App role the migration creates and configures",
    functions=_MIG,
    config_key="proxy.app_db_user",
    pattern=IDENTIFIER,
    pattern_help=IDENTIFIER_HELP,
)
DB_AUTH_MODE = Variable(
    name="DB_AUTH_MODE",
    doc="iam: GRANT rds_iam, no password; secrets: password from APP_USER_SECRET_ARN",
    functions=_MIG,
    config_key="proxy.auth_mode",
    choices=AUTH_MODES,
)
APP_USER_SECRET_ARN = Variable(
    name="APP_USER_SECRET_ARN",
    doc="Secret of the app user; set, and read, only when DB_AUTH_MODE=secrets",
    functions=_MIG,
    required=False,
)
APP_STATEMENT_TIMEOUT_MS = Variable(
    name="APP_STATEMENT_TIMEOUT_MS",
    doc="ALTER ROLE <app> SET statement_timeout",
    functions=_MIG,
    config_key="app_role.statement_timeout_ms",
    range=STATEMENT_TIMEOUT_MS,
)
APP_LOCK_TIMEOUT_MS = Variable(
    name="APP_LOCK_TIMEOUT_MS",
    doc="ALTER ROLE <app> SET lock_timeout",
    functions=_MIG,
    config_key="app_role.lock_timeout_ms",
    range=LOCK_TIMEOUT_MS,
)
APP_IDLE_IN_TRANSACTION_TIMEOUT_MS = Variable(
    name="APP_IDLE_IN_TRANSACTION_TIMEOUT_MS",
    doc="ALTER ROLE <app> SET idle_in_transaction_session_timeout",
    functions=_MIG,
    config_key="app_role.idle_in_transaction_timeout_ms",
    range=IDLE_IN_TRANSACTION_TIMEOUT_MS,
)
DB_SSLMODE = Variable(
    name="DB_SSLMODE",
    doc="Local override of the TLS mode (default verify-full; the migration: require without "
    "the RDS CA bundle)",
    functions=_ALL,
    set_by="local",
    required=False,
    choices=SSL_MODES,
)
DB_SSLROOTCERT = Variable(
    name="DB_SSLROOTCERT",
    doc="Local override of the CA file (default: the bundled one)",
    functions=_ALL,
    set_by="local",
    required=False,
)
AWS_REGION = Variable(
    name="AWS_REGION", doc="Region the IAM token is signed for", functions=_ALL, set_by="lambda"
)
POWERTOOLS_SERVICE_NAME = Variable(
    name="POWERTOOLS_SERVICE_NAME",
    doc="Service name in every log line and metric",
    functions=_ALL,
    read_by="powertools",
    config_key="project.service_name",
    pattern=SERVICE_NAME,
    pattern_help=SERVICE_NAME_HELP,
)
POWERTOOLS_METRICS_NAMESPACE = Variable(
    name="POWERTOOLS_METRICS_NAMESPACE",
    doc="CloudWatch namespace of the EMF metrics (project.metrics_namespace)",
    functions=_APP,
    read_by="powertools",
)
POWERTOOLS_LOG_LEVEL = Variable(
    name="POWERTOOLS_LOG_LEVEL",
    doc="Log level",
    functions=_ALL,
    read_by="powertools",
    config_key="functions.log_level",
    choices=LOG_LEVELS,
)

VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        DB_HOST,
        DB_PORT,
        DB_READ_HOST,
        DB_NAME,
        DB_USER,
        DB_CONNECT_TIMEOUT_S,
        DB_ADMIN_SECRET_ARN,
        APP_DB_USER,
        DB_AUTH_MODE,
        APP_USER_SECRET_ARN,
        APP_STATEMENT_TIMEOUT_MS,
        APP_LOCK_TIMEOUT_MS,
        APP_IDLE_IN_TRANSACTION_TIMEOUT_MS,
        DB_SSLMODE,
        DB_SSLROOTCERT,
        AWS_REGION,
        POWERTOOLS_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL,
    )
}


def variables_for(function: str, *, set_by: SetBy | None = None) -> tuple[Variable, ...]:
    """The variables ``function`` gets (optionally only those ``set_by`` one party)."""
    if function not in ALL_FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(sorted(HANDLERS))}")
    return tuple(
        v
        for v in VARIABLES.values()
        if function in v.functions and (set_by is None or v.set_by == set_by)
    )


def render(values: Mapping[str, str | int]) -> dict[str, str]:
    """Each value as the string its variable's reader accepts (checked the same way)."""
    unknown = sorted(set(values) - set(VARIABLES))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not in orders.contract.VARIABLES")
    return {name: VARIABLES[name].render(value) for name, value in values.items()}


def environment(function: str, values: Mapping[str, str | int]) -> dict[str, str]:
    """The environment a stack sets on ``function``: every variable the contract says the stack
    sets for it (optional ones may be left out), nothing else, each value checked."""
    allowed = {v.name: v for v in variables_for(function, set_by="stack")}
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"{function}: {', '.join(unknown)} not in the contract for it")
    missing = sorted(name for name, v in allowed.items() if v.required and name not in values)
    if missing:
        raise ValueError(f"{function}: missing {', '.join(missing)}")
    return render(values)


# --- HTTP routes ----------------------------------------------------------------------------

# The methods an HTTP API route can have ("ANY" is these); the API answers 405 with the others.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP API route: method and path in API Gateway syntax (``/orders/{order_id}``)."""

    method: str
    path: str

    def __post_init__(self) -> None:
        if self.method not in HTTP_METHODS:
            raise ValueError(f"{self.method!r} is not one of {', '.join(HTTP_METHODS)}")
        if not re.fullmatch(r"(/[A-Za-z0-9_.-]+|/\{[a-z_]+\})+", self.path):
            raise ValueError(f"{self.path!r} is not a path such as /orders/{{order_id}}")

    @property
    def route_key(self) -> str:
        """How API Gateway names it (RouteKey)."""
        return f"{self.method} {self.path}"

    @property
    def resolver_path(self) -> str:
        """The same path in Powertools resolver syntax (``/orders/<order_id>``)."""
        return re.sub(r"\{([a-z_]+)\}", r"<\1>", self.path)


LIST_CUSTOMER_ORDERS = Route("GET", "/customers/{customer_id}/orders")
GET_ORDER = Route("GET", "/orders/{order_id}")
CREATE_ORDER = Route("POST", "/orders")
ROUTES = (LIST_CUSTOMER_ORDERS, GET_ORDER, CREATE_ORDER)
