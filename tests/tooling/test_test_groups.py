"""tests/conftest.py's xdist groups: tests that share a costly fixture run on one worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.conftest import longest_groups_first, xdist_group

pytestmark = pytest.mark.tooling


def _item(nodeid: str, fixtures: list[str], **params: str) -> pytest.Item:
    callspec = SimpleNamespace(params=params) if params else None
    fake: Any = SimpleNamespace(nodeid=nodeid, fixturenames=fixtures, callspec=callspec)
    return cast(pytest.Item, fake)


def test_the_shipped_apps_tests_share_one_group_across_modules() -> None:
    nag = _item("tests/infra/test_cdk_nag.py::t[dev]", ["shipped", "shipped_app", "shipped_env"],
                shipped_env="dev")  # fmt: skip
    prod = _item("tests/infra/test_cfn_lint.py::t[prod]", ["shipped", "shipped_env"],
                 shipped_env="prod")  # fmt: skip
    every = _item("tests/infra/test_x.py::t", ["shipped_apps", "shipped_app"])
    assert xdist_group(nag) == xdist_group(prod) == xdist_group(every) == "shipped"


def test_the_fixture_apps_tests_share_one_group() -> None:
    small = _item("tests/infra/test_x.py::t[small]", ["synth", "env_name"], env_name="small")
    every = _item("tests/infra/test_y.py::t", ["synthesized", "fixture_app"])
    assert xdist_group(small) == xdist_group(every) == "synth"
    secrets = _item("tests/infra/test_x.py::t", ["secrets_mode"])
    assert xdist_group(secrets) == "secrets_mode"


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


def test_the_longest_groups_go_first_each_in_its_own_order() -> None:
    items = [_item(f"t.py::{n}", []) for n in ("a1", "b1", "a2", "c1", "b2")]
    groups = ["a", "b", "a", "c", "b"]
    # as xdist reports them (nodeid@group) or as collected; c has no duration yet
    durations = {"t.py::a1@a": 1.0, "t.py::a2": 2.0, "t.py::b1@b": 4.0, "t.py::b2@b": 0.5}
    ordered = longest_groups_first(items, groups, durations)
    assert [i.nodeid for i in ordered] == [
        "t.py::b1",
        "t.py::b2",
        "t.py::a1",
        "t.py::a2",
        "t.py::c1",
    ]
    # where a test has both, the xdist entry counts: a1 measured alone (10 s) does not move a
    alone = longest_groups_first(items, groups, {**durations, "t.py::a1": 10.0})
    assert [i.nodeid for i in alone] == [i.nodeid for i in ordered]
    # nothing measured (a fresh checkout): the groups with the most tests first, ties in order
    unmeasured = longest_groups_first(items, groups, {})
    assert [i.nodeid for i in unmeasured] == [
        "t.py::a1",
        "t.py::a2",
        "t.py::b1",
        "t.py::b2",
        "t.py::c1",
    ]
    more_c = [*items, _item("t.py::c2", []), _item("t.py::c3", [])]
    by_count = longest_groups_first(more_c, [*groups, "c", "c"], {})
    assert [i.nodeid for i in by_count][:3] == ["t.py::c1", "t.py::c2", "t.py::c3"]
