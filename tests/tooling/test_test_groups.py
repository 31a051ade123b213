"""tests/conftest.py's xdist groups: tests that share a costly fixture run on one worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.conftest import xdist_group

pytestmark = pytest.mark.tooling


def _item(nodeid: str, fixtures: list[str], **params: str) -> pytest.Item:
    callspec = SimpleNamespace(params=params) if params else None
    fake: Any = SimpleNamespace(nodeid=nodeid, fixturenames=fixtures, callspec=callspec)
    return cast(pytest.Item, fake)


def test_one_environments_tests_share_a_group_across_modules() -> None:
    nag = _item("tests/infra/test_cdk_nag.py::t[dev]", ["shipped", "shipped_app", "shipped_env"],
                shipped_env="dev")  # fmt: skip
    lint = _item("tests/infra/test_cfn_lint.py::t[dev]", ["shipped", "shipped_env"],
                 shipped_env="dev")  # fmt: skip
    prod = _item("tests/infra/test_cfn_lint.py::t[prod]", ["shipped", "shipped_env"],
                 shipped_env="prod")  # fmt: skip
    assert xdist_group(nag) == xdist_group(lint) == "shipped:dev"
    assert xdist_group(prod) == "shipped:prod"


def test_every_environment_at_once_outranks_one_environment() -> None:
    both = _item("tests/infra/test_x.py::t[dev]", ["shipped", "shipped_apps", "shipped_env"],
                 shipped_env="dev")  # fmt: skip
    assert xdist_group(both) == "shipped_apps"


def test_a_drill_run_per_fault_and_the_integration_server_shared() -> None:
    drill = _item("tests/bench/test_drill.py::t[network-stall]", ["drill"], drill="network-stall")
    assert xdist_group(drill) == "drill:network-stall"
    pg = _item("tests/integration/test_localpg.py::t", ["postgres", "pgbouncer"])
    assert xdist_group(pg) == "postgres"


def test_other_tests_stay_with_their_module() -> None:
    item = _item("tests/ops/test_smoke_script.py::test_x[a]", ["monkeypatch"], p="a")
    assert xdist_group(item) == "tests/ops/test_smoke_script.py"


@pytest.mark.parametrize(
    ("fixtures", "params"),
    [(["shipped", "shipped_env"], {"shipped_env": "dev"}), (["drill"], {"drill": "replica-stop"}),
     (["synth", "env_name"], {"env_name": "small"})],
)  # fmt: skip
def test_no_group_ends_in_a_bracket(fixtures: list[str], params: dict[str, str]) -> None:
    # xdist takes a nodeid ending in "]" for one without a group (the test runs alone, and its
    # fixture is built again on every worker that gets one).
    assert not xdist_group(_item("tests/infra/test_x.py::t[p]", fixtures, **params)).endswith("]")
