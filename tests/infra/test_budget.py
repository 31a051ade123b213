"""Connection and timeout budgets: the numbers (fixture configs), the report and the command."""

from __future__ import annotations

import pytest

from stacks.budget import (
    BudgetError,
    connection_budget,
    data_summary,
    default_max_connections,
    max_proxy_percent,
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
    assert f"environment                      {env}" in capsys.readouterr().out


def test_budget_command_fails_on_unknown_env(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "qa"]) == 1
    assert "env: value 'qa' not allowed" in capsys.readouterr().err
