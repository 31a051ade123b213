"""How `make test` spreads the suite over pytest-xdist workers (`--dist loadgroup`).

A worker builds each fixture it needs for itself, so what a group shares decides what is built
once: the tests that read a costly shared fixture (the session's synthesized apps, one drill run)
form one group, and every other test stays with its module, whose module-scoped fixtures (a
PostgreSQL, a forked copy of the repository, a bench run) are then built once too. Groups run in
parallel; within a group the order is the usual one. Without xdist the markers do nothing.

xdist hands the groups out in collection order, so the longest go first (longest processing time
first): each run keeps its tests' durations in pytest's cache, and the next run sorts the groups
by their total, the short ones filling in at the end. A fresh checkout has no durations: the
groups with the most tests go first, as xdist orders them by default (`make test` turns xdist's
own reordering off, or it would override this one). Groups that mostly wait on the local servers
they start (the drills, the integration server, the bench runs: a third of the suite's time, a
tenth of its CPU) take turns with the others, so that while they wait the CPUs have work: all
of them at the start left one of the two CPUs idle for the first 25 s.

Two costs every process pays are cut here, before any test module imports the CDK:

- CDK's built-in CloudFormation validation (aws-cdk-lib's `CloudFormationValidatePlugin`, on by
  default in every synth) is off for the suite: `CDK_VALIDATION=false` unless the environment
  sets it. It only reports warnings here (`@aws-cdk/core:validateAgainstDefaultRules` is false in
  cdk.json), cfn-lint checks every synthesized template (tests/infra/test_cfn_lint.py), and it
  costs each process about 4 CPU-seconds to load plus more per synth: a sixth of the suite's CPU.
  tests/tooling/test_entry_points.py runs app.py with CDK's default, validation on, and fails on
  any finding of it (a template it found clean is remembered, as cfn-lint's are); `make synth`
  and `cdk deploy` keep it.
- The objects that exist once the tests are collected (the CDK's generated modules are most of
  them) are frozen out of the garbage collector: every full collection during the tests, and the
  ones pytest forces at the end of each process, would walk them again for nothing.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Generator
from itertools import zip_longest

import pytest

# The switch aws-cdk-lib reads (synthesis-validation.js, `defaultValidationEnabled`): set before
# the first CDK import starts the jsii kernel, which inherits this environment; subprocesses
# (the fork's synth, app.py) inherit it too, unless a test takes it out.
CDK_VALIDATION_ENV = "CDK_VALIDATION"
os.environ.setdefault(CDK_VALIDATION_ENV, "false")

# Costly fixtures shared beyond one module, in the order a test that reads two is grouped by:
# fixture -> (group, the parameter that selects one of its values or None). Every shipped
# environment's app is one group, as is every fixture environment's: a test that reads them all
# (`shipped_apps`, `synthesized`) then finds each one built on its worker already, where a group
# per environment had a second worker build them all again. A drill run is a group per fault (they
# run in parallel). `postgres` is the integration tests' server: they count its connections, so
# they share it as in a serial run.
SHARED_FIXTURES: dict[str, tuple[str, str | None]] = {
    "shipped_apps": ("shipped", None),
    "shipped": ("shipped", None),
    "synthesized": ("synth", None),
    "synth": ("synth", None),
    "secrets_mode": ("secrets_mode", None),
    "postgres": ("postgres", None),
    "drill": ("drill", "drill"),
}


def xdist_group(item: pytest.Item) -> str:
    """The group a collected test runs in: its costliest shared fixture's, else its module."""
    names = getattr(item, "fixturenames", ())
    for fixture, (group, param_name) in SHARED_FIXTURES.items():
        if fixture in names:
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            param = params.get(param_name) if param_name else None
            # no "]" at the end: xdist reads a nodeid ending in "]" as one without a group
            return group if param is None else f"{group}:{param}"
    return item.nodeid.split("::", 1)[0]


DURATIONS_KEY = "pgproxy/test-durations"


def longest_groups_first(
    nodeids: list[str],
    groups: list[str],
    durations: dict[str, float],
    waiting: frozenset[str] = frozenset(),
) -> list[int]:
    """The order of the tests (`nodeids`, indexes into it): the groups of the largest total
    duration first, each in collection order; the `waiting` groups and the others take turns,
    the longer of the two next ones first.

    A test's duration is found under its nodeid as xdist reports it (with its group:
    `<nodeid>@<group>`), else as collected (a run without xdist); a test without one counts 0.
    The xdist entry goes first: a run without xdist (one file, `make unit`) measures a test
    alone, which says less about the next `make test`. With no durations at all (a fresh
    checkout), a test counts 1: the groups with the most tests first, as xdist itself orders them.
    """
    totals: Counter[str] = Counter()
    first: dict[str, int] = {}
    for index, (nodeid, group) in enumerate(zip(nodeids, groups, strict=True)):
        first.setdefault(group, index)
        known = durations.get(f"{nodeid}@{group}", durations.get(nodeid, 0.0))
        totals[group] += known if durations else 1.0
    by_size = sorted(first, key=lambda g: (-totals[g], first[g]))
    turns = zip_longest(
        [g for g in by_size if g in waiting], [g for g in by_size if g not in waiting]
    )
    ranked = [g for turn in turns for g in sorted(filter(None, turn), key=lambda g: -totals[g])]
    rank = {group: index for index, group in enumerate(ranked)}
    return sorted(range(len(nodeids)), key=lambda i: (rank[groups[i]], i))


# Markers of tests that mostly wait on the local servers they start (PostgreSQL, PgBouncer, a
# load run): their groups take turns with the CPU-bound ones.
WAITING_MARKERS = ("integration", "bench")


# A wrapper: the markers go on before xdist's own hook reads them (and, on a worker, adds each
# test's group to its nodeid); the order is decided once every other hook has marked the items
# (tests/integration/conftest.py marks its own).
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None]:
    keys: dict[int, tuple[str, str]] = {}
    for item in items:
        keys[id(item)] = (item.nodeid, xdist_group(item))
        item.add_marker(pytest.mark.xdist_group(keys[id(item)][1]))
    yield
    # pytest reorders the items in between (to share parametrized fixtures): index them anew
    nodeids, groups = zip(*(keys[id(item)] for item in items), strict=True) if items else ((), ())
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    durations = cache.get(DURATIONS_KEY, {}) if cache is not None else {}
    waiting = frozenset(
        group
        for item, group in zip(items, groups, strict=True)
        if any(item.get_closest_marker(marker) for marker in WAITING_MARKERS)
    )
    order = longest_groups_first(list(nodeids), list(groups), durations, waiting)
    items[:] = [items[i] for i in order]


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()


_measured: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[report.nodeid] += report.duration  # setup, call and teardown


def pytest_sessionfinish(session: pytest.Session) -> None:
    cache = getattr(session.config, "cache", None)
    # the controller (or a run without xdist) sees every worker's reports; a worker only its own
    if cache is None or hasattr(session.config, "workerinput") or not _measured:
        return
    cache.set(DURATIONS_KEY, {**cache.get(DURATIONS_KEY, {}), **_measured})


@pytest.fixture
def cache(pytestconfig: pytest.Config) -> pytest.Cache | None:
    """pytest's cache (.pytest_cache), or None when the run disables it (-p no:cacheprovider):
    where cfn-lint's and CDK's built-in validation's clean verdicts on a template are kept."""
    return getattr(pytestconfig, "cache", None)
