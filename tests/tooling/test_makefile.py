"""Makefile: every target is listed by `make help` and phony; the tooling targets do their job."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
# A rule line `name: ...`, not a variable assignment (`:=`) nor a file target (`$(PY_STAMP):`).
RULE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:(?!=)", re.M)


def _make(*args: str, makefile: Path = MAKEFILE) -> str:
    # Called from inside `make test`: keep the outer make's flags and jobserver out.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(makefile), *args],
        cwd=makefile.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def _targets(makefile: Path) -> set[str]:
    return set(RULE.findall(makefile.read_text()))


def _help_targets(makefile: Path) -> set[str]:
    return {line.split()[0] for line in _make("help", makefile=makefile).splitlines() if line}


def _phony(makefile: Path) -> set[str]:
    (line,) = re.findall(r"^\.PHONY:(.*)$", makefile.read_text(), re.M)
    return set(line.split())


def test_every_target_is_listed_by_make_help() -> None:
    targets = _targets(MAKEFILE)
    assert {"help", "setup", "synth", "test", "check", "fmt", "snapshot-update", "lock"} <= targets
    assert targets - _help_targets(MAKEFILE) == set()


def test_an_undocumented_target_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "Makefile"
    shutil.copy(MAKEFILE, copy)
    copy.write_text(copy.read_text() + "\nsecret-target:\n\t@true\n")
    assert _targets(copy) - _help_targets(copy) == {"secret-target"}


def test_every_target_is_phony() -> None:
    # A file named like a target (say `lock`) would otherwise turn it into a silent no-op.
    assert _targets(MAKEFILE) - _phony(MAKEFILE) == set()


def _recipe(target: str) -> list[str]:
    """What `make -n target` would run for the target itself (setup stamps may come first)."""
    return [line.strip() for line in _make("-n", target).splitlines() if line.strip()]


def _index(lines: list[str], fragment: str) -> int:
    matches = [i for i, line in enumerate(lines) if fragment in line]
    assert matches, f"{fragment!r} not in {lines}"
    return matches[0]


def test_make_test_runs_the_checks_before_the_suite() -> None:
    lines = _recipe("test")
    pytest_at = _index(lines, "/pytest --cov")
    for check in (
        "ruff check .",
        "ruff format --check",
        "tools/actionlint.mjs",
        "uv lock --check --offline",
        "| diff -u requirements.txt -",
        "-m tools.lambda_lock",
    ):
        assert _index(lines, check) < pytest_at, check
    assert _index(lines, "/mypy") < pytest_at
    # on pytest-xdist workers grouped by tests/conftest.py, then the wall time
    assert "--dist loadgroup" in lines[pytest_at]
    # in tests/conftest.py's order (longest groups first), not xdist's by count of tests
    assert "--no-loadscope-reorder" in lines[pytest_at]
    assert "--numprocesses" in lines[pytest_at]
    assert pytest_at < _index(lines, 'echo "make test: ')


def test_tooling_targets_run_their_tools() -> None:
    fmt = _recipe("fmt")
    assert _index(fmt, "ruff check --fix") < _index(fmt, "ruff format .")
    # the README tables first (the fast tests check them), then the snapshots, then the list
    snapshot = _recipe("snapshot-update")
    docs_at = _index(snapshot, "python -m stacks.config_doc")
    assert docs_at < _index(snapshot, "pytest -m") == _index(snapshot, "--snapshot-update")
    assert _index(snapshot, "--snapshot-update") < _index(snapshot, "git diff --stat")
    assert "--check" not in snapshot[docs_at]
    # uv's own lock, then the files written from it
    for target, command in (("lock", "/uv lock"), ("lock-upgrade", "/uv lock --upgrade")):
        lines = _recipe(target)
        lock_at = [i for i, line in enumerate(lines) if line.endswith(command)]
        assert lock_at, (target, lines)
        assert lock_at[0] < _index(lines, "> requirements.txt") < _index(lines, "pip compile")


def test_setup_installs_the_lock_with_uv_pinned_in_one_place() -> None:
    text = MAKEFILE.read_text()
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", text, re.M)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert "'uv==$(UV_VERSION)'" in text  # what pip installs when uv is missing
    assert text.count(version) == 1
    # ... and nowhere else: uv.lock does not pin uv (uv sync keeps the copy setup installed)
    assert '\nname = "uv"\n' not in (ROOT / "uv.lock").read_text()
    # setup: uv sync of the lock (refusing a stale one), rebuilt only when an input changes
    (stamp,) = re.findall(r"^\$\(PY_STAMP\): (.*)$", text, re.M)
    assert set(stamp.split()) == {
        "$(UV_STAMP)", "pyproject.toml", "uv.lock", "lambda_src/requirements.in"
    }  # fmt: skip
    rule = text[text.index("\n$(PY_STAMP):") :].split("\n\n", 1)[0]
    syncs = [line for line in rule.splitlines() if "$(UV) sync --locked" in line]
    # aws-cdk-lib after every other package: its copy of a file the schema package ships stays
    assert ["--no-install-package aws-cdk-lib" in line for line in syncs] == [True, False]


STACK_TARGETS = ("deploy", "diff", "destroy")


@functools.cache
def _dry_run(*variables: str) -> str:
    """`make -n deploy diff destroy` with `variables`: one run names the stacks once for all."""
    return _make("-n", *STACK_TARGETS, *variables)


def _cdk_stacks(target: str, *variables: str) -> list[str]:
    """The stack arguments of the `cdk <target>` line `make -n <target>` would run."""
    (line,) = [ln for ln in _dry_run(*variables).splitlines() if f"cdk {target}" in ln]
    words = line.split(f"cdk {target}", 1)[1].split()
    stacks, skip = [], False
    for word in words:
        if skip or word.startswith("-"):
            skip = word == "-c"  # the value of -c env=NAME is not a stack
            continue
        stacks.append(word)
    return stacks


@pytest.mark.parametrize("target", STACK_TARGETS)
def test_deploy_diff_and_destroy_select_the_environments_stacks_not_the_ci_stack(
    target: str,
) -> None:
    from stacks.loader import environment_names, load, load_ci  # noqa: PLC0415

    plan = load_ci()
    assert plan is not None, "cdk.json ships a `ci` section: the CI stack is in every app"
    for env in environment_names():
        stacks = _cdk_stacks(target, f"ENV={env}", "SKIP_PREFLIGHT=1")
        assert stacks == list(load(env).stack_names)
        assert plan.stack_name not in stacks
    assert _cdk_stacks(target) == list(load().stack_names)  # ENV unset: the default
    recipes = [ln for ln in MAKEFILE.read_text().splitlines() if ln.startswith("\t")]
    assert [ln for ln in recipes if "--all" in ln] == []


def test_a_stack_selection_with_the_ci_stack_would_be_caught(tmp_path: Path) -> None:
    copy = tmp_path / "Makefile"
    shutil.copy(MAKEFILE, copy)
    text = copy.read_text().replace(
        "$(CDK) destroy $(CDK_ARGS) $(ENV_STACKS)", "$(CDK) destroy --all"
    )
    copy.write_text(text)
    (line,) = [
        ln
        for ln in _make("-n", "-C", str(ROOT), "destroy", makefile=copy).splitlines()
        if "cdk destroy" in ln
    ]
    assert line.endswith("cdk destroy --all")


def test_ci_access_runs_the_guarded_entry_point() -> None:
    assert _recipe("ci-access")[-1].endswith("/python -m ops.ci_access")
