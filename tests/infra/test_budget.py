"""Connection and timeout budgets: the numbers, the report and the command."""

from __future__ import annotations

import pytest

from stacks.app_builder import cdk_json_context
from stacks.budget import (
    BudgetError,
    connection_budget,
    default_max_connections,
    main,
    report,
    summary_line,
    timeout_budget,
)
from stacks.config import parse_config

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


def _config(name: str):  # type: ignore[no-untyped-def]
    return parse_config(name, cdk_json_context()["environments"][name])


def test_dev_connection_budget() -> None:
    cb = connection_budget(_config("dev"))
    assert (cb.max_connections, cb.proxy_ceiling, cb.headroom) == (198, 158, 40)
    assert cb.headroom >= cb.headroom_min
    assert cb.reserved_concurrency == {"api": 20, "direct": 5, "migration": 1}


def test_prod_connection_budget() -> None:
    cb = connection_budget(_config("prod"))
    assert (cb.max_connections, cb.proxy_ceiling, cb.headroom) == (856, 727, 129)


def test_timeout_budget_fits() -> None:
    tb = timeout_budget(_config("dev"))
    assert tb.worst_case_s == 10
    assert tb.worst_case_s <= tb.lambda_timeout_s <= tb.api_integration_timeout_s <= 29


def test_report_and_summary_show_the_numbers() -> None:
    text = report(_config("dev"))
    for fragment in (
        "db.t4g.small (2 GiB nominal)",
        "198 (measured",
        "proxy server-connection ceiling  158",
        "headroom for admin/migrations    40 (minimum 20)",
        "reserved concurrency: api        20",
        "worst case (sum)                 10 s",
        "status: OK",
    ):
        assert fragment in text
    assert "proxy_ceiling=158 (80%)" in summary_line(_config("dev"))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_budget_command(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", env]) == 0
    assert f"environment                      {env}" in capsys.readouterr().out


def test_budget_command_fails_on_unknown_env(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "qa"]) == 1
    assert "environments.qa" in capsys.readouterr().err
