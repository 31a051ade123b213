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


def _ordered(
    ids: list[str], groups: list[str], durations: dict[str, float], waiting: set[str] | None = None
) -> list[str]:
    nodeids = [f"t.py::{i}" for i in ids]
    order = longest_groups_first(nodeids, groups, durations, frozenset(waiting or ()))
    return [ids[i] for i in order]


IDS, GROUPS = ["a1", "b1", "a2", "c1", "b2"], ["a", "b", "a", "c", "b"]


def test_the_longest_groups_go_first_each_in_its_own_order() -> None:
    # as xdist reports them (nodeid@group) or as collected; c has no duration yet
    durations = {"t.py::a1@a": 1.0, "t.py::a2": 2.0, "t.py::b1@b": 4.0, "t.py::b2@b": 0.5}
    ordered = _ordered(IDS, GROUPS, durations)
    assert ordered == ["b1", "b2", "a1", "a2", "c1"]
    # where a test has both, the xdist entry counts: a1 measured alone (10 s) does not move a
    assert _ordered(IDS, GROUPS, {**durations, "t.py::a1": 10.0}) == ordered
    # nothing measured (a fresh checkout): the groups with the most tests first, ties in order
    assert _ordered(IDS, GROUPS, {}) == ["a1", "a2", "b1", "b2", "c1"]
    by_count = _ordered([*IDS, "c2", "c3"], [*GROUPS, "c", "c"], {})
    assert by_count[:3] == ["c1", "c2", "c3"]


def test_groups_that_wait_on_servers_take_turns_with_the_others() -> None:
    # w1, w2 wait on local servers (integration, bench); x, y, z need the CPUs
    ids = ["x1", "w1a", "w1b", "y1", "w2a", "z1"]
    groups = ["x", "w1", "w1", "y", "w2", "z"]
    durations = {"t.py::x1": 5.0, "t.py::w1a": 10.0, "t.py::w1b": 10.0, "t.py::y1": 4.0,
                 "t.py::w2a": 8.0, "t.py::z1": 1.0}  # fmt: skip
    # each turn, the longer head of the two queues first: w1 (20), x (5), w2 (8), y (4), z
    assert _ordered(ids, groups, durations, {"w1", "w2"}) == ["w1a", "w1b", "x1", "w2a", "y1", "z1"]
    # nothing waits: longest first, as before
    assert _ordered(ids, groups, durations) == ["w1a", "w1b", "w2a", "x1", "y1", "z1"]


def test_this_sessions_groups_each_come_in_one_run(request: pytest.FixtureRequest) -> None:
    # pytest reorders the items after the hook has grouped them (to share parametrized fixtures);
    # the order the hook leaves must still hold each group together, longest (or waiting) first.
    runs: list[str] = []
    for item in request.session.items:
        marker = item.get_closest_marker("xdist_group")
        assert marker is not None, item.nodeid
        if not runs or runs[-1] != marker.args[0]:
            runs.append(marker.args[0])
    assert len(runs) == len(set(runs)), [g for g in runs if runs.count(g) > 1]
