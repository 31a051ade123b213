"""Aurora configuration: engine-specific keys, Serverless v2 capacity, per-target budgets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stacks.budget import connection_budget, no_queue_warnings, reader_budget
from stacks.budget_report import report
from stacks.config import AppConfig, ConfigError
from stacks.loader import load
from tests.fixture_config import SMALL, aurora_context, fixture_context

pytestmark = pytest.mark.infra


def _aurora(**database: Any) -> dict[str, Any]:
    return aurora_context(SMALL, **database)


def _config(context: dict[str, Any]) -> AppConfig:
    return load(SMALL, context)


def _problems(context: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(SMALL, context)
    return str(caught.value)


def test_an_aurora_environment_loads() -> None:
    db = _config(_aurora()).database
    assert (db.is_aurora, db.readers, db.readers_class) == (True, 2, "serverless")


BAD_AURORA = [
    (
        "instance-key-on-aurora",
        {"multi_az": True},
        r"^environments\.small\.database\.multi_az: value True not allowed with engine "
        r"'aurora-postgresql': an RDS instance key; remove it \(reader_count\)$",
    ),
    (
        "storage-key-on-aurora",
        {"allocated_storage_gib": 20},
        r"database\.allocated_storage_gib: value 20 not allowed with engine 'aurora-postgresql'",
    ),
    (
        "min-above-max",
        {"serverless_min_acu": 16, "serverless_max_acu": 8},
        r"^environments\.small\.database\.serverless_min_acu: value 16\.0 out of range; allowed "
        r"0\.5\.\.serverless_max_acu \(8\.0\)$",
    ),
    (
        "acu-off-step",
        {"serverless_max_acu": 8.25},
        r"database\.serverless_max_acu: value 8\.25 is invalid: allowed 0\.\.256 in steps of 0\.5",
    ),
    (
        "acu-above-256",
        {"serverless_max_acu": 300},
        r"database\.serverless_max_acu: value 300\.0 is invalid: allowed 0\.\.256",
    ),
    (
        "max-half-acu",
        {"serverless_min_acu": 0.5, "serverless_max_acu": 0.5},
        r"database\.serverless_max_acu: value 0\.5 out of range; allowed 1\.\.256",
    ),
    (
        "zero-min-acu",
        {"serverless_min_acu": 0},
        r"database\.serverless_min_acu: value 0 not allowed: auto-pause needs an instance with "
        r"no connections, and RDS Proxy keeps its pooled connections open, so the instance "
        r"would never pause",
    ),
    (
        "acu-missing",
        {"serverless_max_acu": None},
        r"database\.serverless_max_acu: missing key \(required with instance_class 'serverless'\)",
    ),
    (
        "reader-count-above-15",
        {"reader_count": 16},
        r"database\.reader_count: value 16 out of range; allowed 0\.\.15",
    ),
    (
        "rds-only-class-on-aurora",
        {"instance_class": "m7g.large", "serverless_min_acu": None, "serverless_max_acu": None},
        r"database\.instance_class: value 'm7g\.large' not allowed with engine "
        r"'aurora-postgresql'; allowed: 'serverless' or a class whose max_connections AWS "
        r"documents",
    ),
    (
        "acu-without-serverless",
        {"instance_class": "r6g.large"},
        r"database\.serverless_min_acu: value 1\.0 not allowed: no instance is 'serverless'",
    ),
    (
        "aurora-version",
        {"engine_version": "18.3"},
        r"database\.engine_version: value '18\.3' not allowed with engine 'aurora-postgresql'",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "expected"), [c[1:] for c in BAD_AURORA], ids=[c[0] for c in BAD_AURORA]
)
def test_bad_aurora_input_names_the_key_and_the_fix(
    overrides: dict[str, Any], expected: str
) -> None:
    assert re.search(expected, _problems(_aurora(**overrides)), re.MULTILINE)


@pytest.mark.parametrize(
    ("key", "value"),
    [("reader_count", 1), ("serverless_max_acu", 8), ("reader_class", "r6g.large")],
)
def test_aurora_keys_on_postgres_are_refused_with_the_fix(key: str, value: object) -> None:
    context = fixture_context()
    context["environments"][SMALL]["database"][key] = value
    assert re.search(
        rf"^environments\.small\.database\.{key}: value .* not allowed with engine 'postgres': "
        r"an Aurora key; remove it or set engine 'aurora-postgresql'$",
        _problems(context),
        re.MULTILINE,
    )


def test_postgres_still_requires_its_instance_keys() -> None:
    context = fixture_context()
    del context["environments"][SMALL]["database"]["multi_az"]
    assert "database.multi_az: missing key (required with engine 'postgres')" in _problems(context)


def test_serverless_class_on_postgres_is_refused() -> None:
    context = fixture_context()
    context["environments"][SMALL]["database"]["instance_class"] = "serverless"
    assert "value 'serverless' not allowed with engine 'postgres'" in _problems(context)


def test_read_only_endpoint_needs_readers() -> None:
    context = _aurora(reader_count=0)
    context["environments"][SMALL]["proxy"]["read_only_endpoint"] = True
    assert re.search(
        r"^environments\.small\.proxy\.read_only_endpoint: value true needs readers: set "
        r"database\.reader_count ≥ 1",
        _problems(context),
        re.MULTILINE,
    )
    context = fixture_context()  # postgres: no readers at all
    context["environments"][SMALL]["proxy"]["read_only_endpoint"] = True
    assert "proxy.read_only_endpoint: value true needs readers" in _problems(context)


# --- per-target budgets (documented max_connections, aurora-serverless-v2.setting-capacity) ----


@pytest.mark.parametrize(
    ("min_acu", "max_acu", "max_connections"),
    [
        (1, 1, 189),
        (1, 4, 823),
        (1, 8, 1669),
        (1, 16, 3360),
        (1, 32, 5000),
        (2, 256, 5000),
        (0.5, 16, 2000),  # a 0.5 ACU minimum caps it at 2000
        (0.5, 8, 1669),  # below the cap
        (1, 6, 823),  # between documented points: the lower one (a lower bound)
    ],
)
def test_serverless_v2_max_connections_follow_the_maximum_acu(
    min_acu: float, max_acu: float, max_connections: int
) -> None:
    config = _config(_aurora(serverless_min_acu=min_acu, serverless_max_acu=max_acu))
    assert connection_budget(config).max_connections == max_connections


def test_provisioned_writer_and_reader_pools_use_each_class() -> None:
    # GIVEN an r6g.large writer (1722) and r6g.xlarge readers (3479) at 70 %
    config = _config(
        _aurora(
            instance_class="r6g.large",
            reader_class="r6g.xlarge",
            serverless_min_acu=None,
            serverless_max_acu=None,
        )
    )
    writer, reader = connection_budget(config), reader_budget(config)
    assert reader is not None
    # THEN each pool is 70 % of its own instance's max_connections
    assert (writer.max_connections, writer.proxy_ceiling, writer.headroom) == (1722, 1205, 517)
    assert (reader.max_connections, reader.proxy_ceiling, reader.headroom) == (3479, 2435, 1044)


def test_make_budget_prints_writer_and_reader_pools() -> None:
    context = _aurora(serverless_min_acu=1, serverless_max_acu=8, reader_count=2)
    context["environments"][SMALL]["proxy"]["read_only_endpoint"] = True
    text = report(_config(context))
    assert re.search(r"^writer max_connections +1669 \(documented\)$", text, re.MULTILINE)
    assert re.search(r"^writer pool \(server-connection ceiling\) +1168$", text, re.MULTILINE)
    assert re.search(r"^reader \(each\) max_connections +1669", text, re.MULTILINE)
    assert re.search(r"^reader pools carry \(reads\) +2336 concurrent", text, re.MULTILINE)
    assert re.search(r"^writer headroom for admin +501 \(minimum 30\)$", text, re.MULTILINE)
    assert re.search(r"^no-queue rule \(readers\) +api\+direct \d+ of ceiling 2336", text, re.M)


def test_reader_pools_keep_the_no_queue_rule_separately() -> None:
    # GIVEN small readers (1 ACU: 189 x 70 % = 132 each) and more reserved concurrency
    context = _aurora(serverless_min_acu=1, serverless_max_acu=1, reader_count=1)
    env = context["environments"][SMALL]
    env["proxy"]["read_only_endpoint"] = True
    env["database"]["admin_headroom_min_connections"] = 10
    env["functions"]["api_reserved_concurrency"] = 120
    env["functions"]["direct_reserved_concurrency"] = 20
    warnings = no_queue_warnings(_config(context))
    # THEN both pools warn, each naming its own ceiling
    assert (
        "exceeds the writer's proxy pool's server-connection ceiling 132"
        in (warnings["budget:noQueue"])
    )
    assert (
        "exceeds the readers' proxy pools' server-connection ceiling 132"
        in (warnings["budget:noQueueReaders"])
    )


def test_the_reader_pool_budget_refuses_a_percent_without_headroom() -> None:
    # GIVEN a big writer and a small reader class: the reader's headroom fails first
    context = _aurora(
        instance_class="r6g.xlarge",
        reader_class="t4g.medium",
        serverless_min_acu=None,
        serverless_max_acu=None,
    )
    context["environments"][SMALL]["proxy"]["max_connections_percent"] = 95
    context["environments"][SMALL]["monitoring"]["db_connections_alarm_percent"] = 97
    assert re.search(
        r"proxy\.max_connections_percent: value 95 leaves 21 of 405 connections \(t4g\.medium\)",
        _problems(context),
    )
