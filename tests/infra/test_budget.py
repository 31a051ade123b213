"""Connection and timeout budgets: the numbers (fixture configs), the report and the command."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Annotations, Match
from infra_support import Synthesized, build_fixture

from stacks.budget import (
    PROXY_POOL_FUNCTIONS,
    RDS_POSTGRES_MAX_CONNECTIONS,
    BudgetError,
    connection_budget,
    data_summary,
    default_max_connections,
    max_proxy_percent,
    no_queue_excess,
    no_queue_split,
    no_queue_warning,
    proxy_ceiling,
    summary_line,
    timeout_budget,
)
from stacks.budget_report import main, report
from stacks.config import AppConfig
from stacks.loader import environment_names, load
from tests.fixture_config import LARGE, SMALL, fixture_context

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    ("instance_class", "gib", "max_connections", "source"),
    [
        ("t4g.small", 2, 198, "measured"),
        ("t4g.medium", 4, 413, "measured"),
        ("m7g.large", 8, 856, "measured"),
        ("db.r7g.large", 16, 1712, "estimate"),  # 0.95 * 16 GiB / 9531392
        ("t4g.micro", 1, 80, "estimate"),
        ("r7g.2xlarge", 64, 5000, "estimate"),  # capped at 5000
    ],
)
def test_default_max_connections(
    instance_class: str, gib: int, max_connections: int, source: str
) -> None:
    assert default_max_connections(instance_class) == (gib, max_connections, source)


def test_unknown_instance_class_is_rejected() -> None:
    with pytest.raises(BudgetError, match=r"instance_class: value 'x9\.large' not allowed"):
        default_max_connections("x9.large")


def _config(name: str) -> AppConfig:
    return load(name, fixture_context())


def test_small_connection_budget() -> None:
    cb = connection_budget(_config(SMALL))
    # t4g.medium: 413; 70 % -> 289; 124 left for admin work (minimum 30)
    assert (cb.max_connections, cb.proxy_ceiling, cb.headroom) == (413, 289, 124)
    assert cb.max_percent_allowed == 92
    assert cb.reserved_concurrency == {"api": 7, "direct": 3, "migration": 1}
    assert cb.account_concurrency_needed == 7 + 3 + 1 + 100


def test_large_connection_budget() -> None:
    cb = connection_budget(_config(LARGE))
    assert (cb.max_connections, cb.proxy_ceiling, cb.headroom) == (856, 753, 103)


@pytest.mark.parametrize(
    ("max_connections", "headroom", "allowed"), [(198, 20, 90), (413, 30, 92), (100, 100, 0)]
)
def test_max_proxy_percent_leaves_the_headroom(
    max_connections: int, headroom: int, allowed: int
) -> None:
    assert max_proxy_percent(max_connections, headroom) == allowed
    if allowed:
        assert max_connections - proxy_ceiling(max_connections, allowed) >= headroom
    if allowed < 100:
        assert max_connections - proxy_ceiling(max_connections, allowed + 1) < headroom


def test_timeout_budget_fits() -> None:
    tb = timeout_budget(_config(SMALL))
    assert tb.worst_case_s == 3 + 4 + 6
    assert tb.worst_case_s <= tb.lambda_timeout_s <= tb.api_integration_timeout_s


def test_report_and_summary_show_the_numbers() -> None:
    text = report(_config(SMALL))
    for fragment in (
        "db.t4g.medium (4 GiB nominal)",
        "413 (measured",
        "70 % (allowed 1..92 here)",
        "proxy server-connection ceiling  289",
        "headroom for admin/migrations    124 (minimum 30)",
        "reserved concurrency: api        7",
        "Lambda account limit needed      >= 111",
        "worst case (sum)                 13 s",
        "HTTP API max 30 s",
        "status: OK",
    ):
        assert fragment in text
    assert "proxy_ceiling=289 (70%)" in summary_line(_config(SMALL))


def test_data_summary_holds_no_service_setting() -> None:
    # GIVEN two configs that differ only in service-tier settings
    context = fixture_context(
        small={"functions": {"timeout_s": 20, "api_reserved_concurrency": 50}}
    )
    # THEN the data tier's summary (its stack description) is the same
    assert data_summary(load(SMALL, context)) == data_summary(_config(SMALL))
    assert summary_line(load(SMALL, context)) != summary_line(_config(SMALL))


@pytest.mark.parametrize("env", environment_names())
def test_budget_command(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", env]) == 0
    assert re.search(rf"^environment +{env}$", capsys.readouterr().out, re.MULTILINE)


def test_budget_command_fails_on_unknown_env(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "qa"]) == 1
    assert "env: value 'qa' not allowed" in capsys.readouterr().err


# --- the max_connections table ------------------------------------------------------------------


def test_every_class_says_how_its_value_is_known() -> None:
    assert {c.source for c in RDS_POSTGRES_MAX_CONNECTIONS.values()} == {"measured", "estimate"}
    # measured only where SHOW max_connections was seen: the 2, 4 and 8 GiB classes
    measured = {n for n, c in RDS_POSTGRES_MAX_CONNECTIONS.items() if c.source == "measured"}
    assert {RDS_POSTGRES_MAX_CONNECTIONS[n].memory_gib for n in measured} == {2, 4, 8}
    assert {"t3.small", "t4g.medium", "m5.large", "m8g.large"} <= measured


def test_more_memory_never_means_fewer_connections() -> None:
    rows = sorted(RDS_POSTGRES_MAX_CONNECTIONS.values(), key=lambda c: c.memory_gib)
    values = [c.max_connections for c in rows]
    assert values == sorted(values)
    assert values[-1] == 5000
    assert all(c.max_connections == 5000 for c in rows if c.memory_gib >= 48)


@pytest.mark.parametrize(
    ("instance_class", "expected"),
    [
        ("t3.micro", (1, 80, "estimate")),
        ("t4g.2xlarge", (32, 3424, "estimate")),  # 0.95 * 32 GiB / 9531392
        ("m6i.32xlarge", (512, 5000, "estimate")),
        ("r5.24xlarge", (768, 5000, "estimate")),
        ("x2g.large", (32, 3424, "estimate")),
    ],
)
def test_current_families_and_sizes_are_known(
    instance_class: str, expected: tuple[int, int, str]
) -> None:
    assert default_max_connections(instance_class) == expected


@pytest.mark.parametrize(
    "instance_class", ["m7g.micro", "r6g.medium", "t4g.4xlarge", "m6g.24xlarge"]
)
def test_sizes_a_family_does_not_have_are_rejected(instance_class: str) -> None:
    with pytest.raises(BudgetError, match=rf"value '{re.escape(instance_class)}' not allowed"):
        default_max_connections(instance_class)


@pytest.mark.parametrize(
    ("instance_class", "expected"),
    [
        ("db.r6g.large", (16, 1722, "documented")),
        ("r6g.xlarge", (32, 3479, "documented")),
        ("t4g.medium", (4, 405, "documented")),
        ("r5.xlarge", (32, 3300, "documented")),
        ("r7g.large", (16, 1712, "estimate")),  # not on the Aurora page: the RDS estimate
    ],
)
def test_aurora_takes_the_documented_values(
    instance_class: str, expected: tuple[int, int, str]
) -> None:
    assert default_max_connections(instance_class, engine="aurora-postgresql") == expected


# --- the no-queue rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [*(_config(e) for e in (SMALL, LARGE)), *(load(e) for e in environment_names())],
    ids=lambda c: c.env_name,
)
def test_shipped_and_fixture_environments_keep_the_no_queue_rule(config: AppConfig) -> None:
    cb = connection_budget(config)
    on_pool = {k: cb.reserved_concurrency[k] for k in PROXY_POOL_FUNCTIONS}
    assert no_queue_excess(on_pool, cb.proxy_ceiling) == 0


def test_no_queue_excess_counts_what_would_wait() -> None:
    assert no_queue_excess({"api": 150, "direct": 40}, 178) == 12
    assert no_queue_excess({"api": 138, "direct": 40}, 178) == 0


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (178, {"api": 4, "direct": 1}, {"api": 142, "direct": 36}),
        (10, {"a": 1, "b": 1, "c": 1}, {"a": 4, "b": 3, "c": 3}),
        (3, {"a": 100, "b": 0, "c": 0}, {"a": 1, "b": 1, "c": 1}),  # at least 1 each
        (2, {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 1, "c": 0}),  # not enough for everyone
        (5, {"a": 0, "b": 0}, {"a": 3, "b": 2}),
        (7, {}, {}),
    ],
)
def test_no_queue_split_fills_the_total_exactly(
    total: int, weights: dict[str, float], expected: dict[str, int]
) -> None:
    split = no_queue_split(total, weights)
    assert split == expected
    if weights:
        assert sum(split.values()) == total
        assert no_queue_excess(split, total) == 0


# --- the no-queue rule --------------------------------------------------------------------


def _small(**functions: int) -> AppConfig:
    return load(SMALL, fixture_context(small={"functions": functions}))


def test_the_no_queue_rule_holds_when_the_pool_reserved_sum_fits_the_ceiling() -> None:
    # t4g.medium 413 x 70 % -> ceiling 289; 7 + 3 reserved on the pool
    config = _small()
    budget = connection_budget(config)
    assert (budget.proxy_ceiling, budget.pool_reserved) == (289, {"api": 7, "direct": 3})
    assert no_queue_warning(budget) is None
    assert "api+direct 10 of ceiling 289 (3 %): holds" in report(config)


def test_the_no_queue_rule_names_the_keys_and_figures_when_the_sum_exceeds_the_ceiling() -> None:
    config = _small(api_reserved_concurrency=250, direct_reserved_concurrency=40)
    warning = no_queue_warning(connection_budget(config))
    assert warning is not None
    assert warning.startswith(
        "functions.api_reserved_concurrency + functions.direct_reserved_concurrency = 250 + 40 "
        "= 290 exceeds the proxy pool's server-connection ceiling 289 (70 % of 413) by 1"
    )
    assert "exceeds by 1, borrows queue" in report(config)


def test_synth_warns_when_the_no_queue_rule_does_not_hold(
    synthesized: dict[str, Synthesized],
) -> None:
    built = build_fixture(
        SMALL, functions={"api_reserved_concurrency": 250, "direct_reserved_concurrency": 40}
    )
    warnings = Annotations.from_stack(built.service).find_warning(
        "*", Match.string_like_regexp("exceeds the proxy pool's server-connection ceiling 289")
    )
    assert [w.id for w in warnings] == [f"/{built.service.stack_name}/Functions"]
    fitting = Annotations.from_stack(synthesized[SMALL].built.service).find_warning(
        "*", Match.string_like_regexp("proxy pool")
    )
    assert fitting == []
