"""The requirements locks match their .in files (offline check) and the check catches drift."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from stacks.components.bundling import _ARCH, PYTHON_VERSION, RUNTIME_PROVIDED
from tools.lock import LOCKS, ROOT, check, main, read_lock

pytestmark = pytest.mark.tooling

LAMBDA = next(lock for lock in LOCKS if lock.output == "lambda_src/requirements.txt")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of every .in and lock, current by construction."""
    for lock in LOCKS:
        for name in (lock.source, lock.output):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
    assert check(tmp_path) == []
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def _requirement_line(path: Path, name: str) -> str:
    (line,) = [
        line
        for line in path.read_text().splitlines()
        if re.match(rf"{name}(?![\w.-])", line.strip())
    ]
    return line


def test_shipped_locks_are_current_with_their_inputs() -> None:
    assert check() == []


def test_check_command_exits_nonzero_on_a_stale_lock(repo: Path) -> None:
    assert main(["--check", "--root", str(repo)]) == 0
    (repo / "lambda_src/requirements.in").write_text(
        (repo / "lambda_src/requirements.in").read_text() + "requests\n"
    )
    assert main(["--check", "--root", str(repo)]) == 1


def test_new_requirement_is_reported_until_locked(repo: Path) -> None:
    source = repo / "requirements-dev.in"
    source.write_text(source.read_text() + "requests>=2\n")
    assert check(repo) == [
        "requirements-dev.in asks for requests, requirements-dev.txt does not pin it"
    ]


def test_dropping_a_lambda_requirement_is_one_edit_that_makes_both_locks_stale(
    repo: Path,
) -> None:
    source = repo / "lambda_src/requirements.in"
    line = _requirement_line(source, "yoyo-migrations")
    _edit(source, line + "\n", "")
    problems = check(repo)
    for out in ("lambda_src/requirements.txt", "requirements-dev.txt"):
        assert (
            f"{out} pins yoyo-migrations via lambda_src/requirements.in, "
            "which no longer asks for it" in problems
        )


def test_narrowed_range_is_reported(repo: Path) -> None:
    source = repo / "lambda_src/requirements.in"
    (pinned,) = read_lock(repo / LAMBDA.output).pins[canonicalize_name("psycopg")].versions
    line = _requirement_line(source, "psycopg")
    _edit(source, line, f"psycopg>{pinned}")
    assert f"lambda_src/requirements.in asks for psycopg>{pinned}, " in "\n".join(check(repo))


def test_dev_lock_must_pin_shared_packages_at_the_lambda_and_cdk_versions(repo: Path) -> None:
    (shared,) = (
        read_lock(repo / LAMBDA.output).pins[canonicalize_name("typing-extensions")].versions
    )
    _edit(
        repo / "requirements-dev.txt",
        f"\ntyping-extensions=={shared}\n",
        "\ntyping-extensions==0.1\n",
    )
    # The dev lock disagrees with the Lambda lock, and the CDK lock with the dev lock.
    problems = sorted(p.split(": run")[0] for p in check(repo))
    assert problems == [
        f"requirements-dev.txt pins typing-extensions==0.1 but "
        f"lambda_src/requirements.txt pins =={shared}",
        f"requirements.txt pins typing-extensions=={shared} but requirements-dev.txt pins ==0.1",
    ]


def test_a_pin_per_python_range_must_match_across_locks(repo: Path) -> None:
    # GIVEN a universal dev lock and CDK lock that pin an older release for older Pythons
    (shared,) = (
        read_lock(repo / LAMBDA.output).pins[canonicalize_name("typing-extensions")].versions
    )
    fork = "typing-extensions==0.1 ; python_full_version < '3.12'\n    # via jsii\n"
    for lock in ("requirements-dev.txt", "requirements.txt"):
        _edit(
            repo / lock,
            f"\ntyping-extensions=={shared}\n",
            f"\n{fork}typing-extensions=={shared}\n",
        )
    pins = read_lock(repo / "requirements.txt").pins[canonicalize_name("typing-extensions")]
    assert pins.versions == ["0.1", shared]
    # THEN the CDK lock agrees with the dev lock, but the dev lock no longer ships the bundle's
    # version on every Python.
    assert [p.split(": run")[0] for p in check(repo)] == [
        f"requirements-dev.txt pins typing-extensions==0.1 and =={shared} but "
        f"lambda_src/requirements.txt pins =={shared}"
    ]


def test_shipped_dev_lock_agrees_with_the_lambda_and_cdk_locks() -> None:
    dev = read_lock(ROOT / "requirements-dev.txt").pins
    for other in ("requirements.txt", "lambda_src/requirements.txt"):
        pins = read_lock(ROOT / other).pins
        assert pins.keys() <= dev.keys(), other
        assert {k: dev[k].versions for k in pins} == {k: p.versions for k, p in pins.items()}


def test_runtime_provided_package_in_the_lambda_lock_is_reported(repo: Path) -> None:
    out = repo / LAMBDA.output
    out.write_text(out.read_text() + "botocore==1.44.8\n    # via aws-xray-sdk\n")
    assert (
        "lambda_src/requirements.txt pins botocore, which it must leave out "
        "(the Lambda runtime provides it)"
    ) in check(repo)


def test_hand_written_lock_is_reported(repo: Path) -> None:
    out = repo / "requirements.txt"
    _edit(out, "#    make lock\n", "")
    assert check(repo) == ["requirements.txt was not generated by `make lock` (its header says so)"]


def test_lambda_lock_targets_the_bundle() -> None:
    # GIVEN what the bundler installs: Python PYTHON_VERSION wheels for every architecture,
    # minus what the Lambda runtime provides.
    assert LAMBDA.excluded == {canonicalize_name(n) for n in RUNTIME_PROVIDED}
    assert LAMBDA.options[:2] == ("--python-version", PYTHON_VERSION)
    assert "--only-binary" in LAMBDA.options
    assert {p.split("-")[0] for p in LAMBDA.platforms if p} == set(_ARCH.values())
    # THEN the shipped lock pins none of the runtime's packages and says which it left out.
    parsed = read_lock(ROOT / LAMBDA.output)
    assert not parsed.pins.keys() & LAMBDA.excluded
    assert parsed.excluded <= LAMBDA.excluded
    assert parsed.excluded, "uv lists the runtime packages it left out (botocore at least)"


def test_the_functions_bundle_no_tracing_sdk() -> None:
    # Lambda active tracing needs none; the X-Ray SDKs reach end of support on 2027-02-25.
    for lock in ("lambda_src/requirements.in", "lambda_src/requirements.txt"):
        text = (ROOT / lock).read_text()
        assert not re.search(r"^(aws-xray-sdk|wrapt)\b", text, flags=re.MULTILINE), lock
