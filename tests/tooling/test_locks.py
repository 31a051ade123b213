"""uv.lock and the files written from it are current, and `make lint` catches each kind of drift.

`make lint` runs three offline checks: `uv lock --check` (uv.lock against pyproject.toml and
lambda_src/requirements.in), requirements.txt re-exported and compared, and tools/lambda_lock.py
(the Lambda lock against uv.lock for the bundle's target). These tests run the Makefile's own
command lines (`make -n`), on the checkout and on copies with one thing changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from stacks.lambda_target import MACHINES, PYTHON_VERSION, RUNTIME_PROVIDED
from tools.lambda_lock import LOCK, problems, read_pins, uv_export

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parents[2]
# What uv reads and writes for the locks; a copy of these is a repository for the checks.
LOCK_FILES = (
    "pyproject.toml",
    "uv.lock",
    "requirements.txt",
    "lambda_src/requirements.in",
    "lambda_src/requirements.txt",
)
# This interpreter's uv (make setup installs UV_VERSION in .venv), so the lines run anywhere.
UV = f"{sys.executable} -m uv"


@cache
def _make_n(target: str) -> tuple[str, ...]:
    """The command lines `make target` runs (stamps that are not current would come first)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"UV={UV}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return tuple(line.strip() for line in result.stdout.splitlines() if line.strip())


def _line(target: str, fragment: str) -> str:
    (line,) = [line for line in _make_n(target) if fragment in line]
    return line


def _lock_check() -> str:
    return _line("lint", " lock --check")


def _export_check() -> str:
    return _line("lint", "| diff -u requirements.txt -")


def _sh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in LOCK_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


# --- the checkout ---


def test_make_lint_runs_the_three_lock_checks_offline() -> None:
    assert _lock_check() == f"{UV} lock --check --offline"
    assert "export --frozen --offline" in _export_check()
    assert _line("lint", "-m tools.lambda_lock")


def test_shipped_uv_lock_and_requirements_txt_are_current() -> None:
    for line in (_lock_check(), _export_check()):
        result = _sh(line, ROOT)
        assert result.returncode == 0, (line, result.stdout[-2000:], result.stderr[-2000:])


def test_shipped_lambda_lock_is_uv_locks_resolution_for_the_bundle() -> None:
    assert problems() == []


def test_the_check_re_runs_the_export_make_lock_writes() -> None:
    writer = _line("lock", "> requirements.txt").removesuffix(" > requirements.txt")
    assert _export_check().startswith(f"{writer} | diff -u requirements.txt -")


def test_every_pin_is_exact_and_hashed() -> None:
    # read_pins refuses anything but `name==version`
    for name in ("requirements.txt", LOCK):
        pins = read_pins((ROOT / name).read_text(), name)
        assert pins, name
        assert [pin.key for pin in pins if not pin.hashes] == [], name


def test_shared_packages_have_one_version_everywhere() -> None:
    # GIVEN what the tests run (uv.lock) and what ships (the Lambda lock, the CDK app's export)
    locked: dict[str, set[str]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    for name in ("requirements.txt", LOCK):
        pins = read_pins((ROOT / name).read_text(), name)
        # THEN every pinned package is at a version uv.lock resolved
        assert [p.key for p in pins if p.version not in locked.get(p.key, ())] == [], name


def test_make_lock_compiles_the_lambda_lock_for_the_bundle() -> None:
    # GIVEN what the bundler installs: Python PYTHON_VERSION wheels for every machine, minus what
    # the Lambda runtime provides
    compile_line = " ".join(line for line in _make_n("lock") if "pip compile" in line)
    # THEN make lock compiles for each, the first into the lock, the others to compare with it
    first, *others = MACHINES
    assert f"--python-platform {first}-manylinux_2_28 " in compile_line
    assert f"for machine in {' '.join(others)}; do" in compile_line
    assert "--python-platform $machine-manylinux_2_28 " in compile_line
    assert f"--python-version {PYTHON_VERSION} " in compile_line
    assert "--only-binary :all:" in compile_line
    assert "--generate-hashes" in compile_line
    for name in RUNTIME_PROVIDED:
        assert f"--no-emit-package {name} " in compile_line, name
    # AND the shipped lock pins none of the runtime's packages and says which it left out
    text = (ROOT / LOCK).read_text()
    keys = {pin.key for pin in read_pins(text, LOCK)}
    assert not keys & {canonicalize_name(n) for n in RUNTIME_PROVIDED}
    assert "# The following packages were excluded from the output:" in text


def test_the_functions_bundle_no_tracing_sdk() -> None:
    # Lambda active tracing needs none; the X-Ray SDKs reach end of support on 2027-02-25.
    for lock in ("lambda_src/requirements.in", LOCK, "uv.lock"):
        text = (ROOT / lock).read_text()
        assert not re.search(r'^(name = ")?(aws-xray-sdk|wrapt)\b', text, flags=re.MULTILINE), lock


# --- drift, on a copy ---


def test_an_unchanged_copy_passes_every_check(repo: Path) -> None:
    for line in (_lock_check(), _export_check()):
        result = _sh(line, repo)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    assert problems(repo) == []


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        # a function dependency added: uv.lock's project requirements come from the .in
        ("lambda_src/requirements.in", "yoyo-migrations>=9,<10", "yoyo-migrations>=9,<10\nsix"),
        # a range narrowed past the pin
        ("lambda_src/requirements.in", "psycopg>=3.2,<4", "psycopg>=3.2,<3.3"),
        # a CDK app dependency added to its group
        ("pyproject.toml", '  "pydantic>=2.11,<3",', '  "pydantic>=2.11,<3",\n  "six",'),
    ],
    ids=["lambda-requirement-added", "lambda-range-narrowed", "app-requirement-added"],
)
def test_uv_lock_check_fails_when_an_input_changed(
    repo: Path, path: str, old: str, new: str
) -> None:
    _edit(repo / path, old, new)
    result = _sh(_lock_check(), repo)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr or "No solution found" in result.stderr


def test_export_check_fails_on_a_hand_edited_requirements_txt(repo: Path) -> None:
    _edit(repo / "requirements.txt", "\npydantic==", "\npydantic==2.11.0\nx==")
    result = _sh(_export_check(), repo)
    assert result.returncode == 1
    assert "requirements.txt is stale: run make lock" in result.stderr


def _pinned(repo: Path, name: str) -> str:
    (pin,) = [p for p in read_pins((repo / LOCK).read_text(), LOCK) if p.key == name]
    return pin.version


def test_lambda_lock_at_another_version_than_uv_lock_is_reported(repo: Path) -> None:
    version = _pinned(repo, "typing-extensions")
    _edit(repo / LOCK, f"\ntyping-extensions=={version} ", "\ntyping-extensions==4.0.0 ")
    assert problems(repo) == [
        f"{LOCK} pins typing-extensions==4.0.0, uv.lock for Lambda aarch64 and x86_64 "
        f"=={version}: make lock"
    ]


def test_lambda_lock_missing_or_extra_packages_are_reported(repo: Path) -> None:
    exported = uv_export(repo)
    # GIVEN uv.lock needs one more package than the Lambda lock has, and no longer one it has
    exported = exported.replace("zipp==", "newpkg==1.0\nzipp==").replace("\ntabulate==", "\n#")
    assert problems(repo, exported) == [
        f"{LOCK} lacks newpkg==1.0, which uv.lock for Lambda aarch64 and x86_64 needs: make lock",
        f"{LOCK} pins tabulate, which uv.lock for Lambda aarch64 and x86_64 does not need: "
        "make lock",
    ]


def test_markers_are_evaluated_for_lambdas_python_and_each_machine(repo: Path) -> None:
    exported = uv_export(repo)
    assert "; sys_platform == 'win32'" in exported  # psycopg's tzdata: never on Lambda
    assert problems(repo, exported) == []
    # a package uv.lock needs on x86_64 only, or below Lambda's Python only
    exported += "onlyx86==1.0 ; platform_machine == 'x86_64'\n"
    exported += "old==1.0 ; python_full_version < '3.12'\n"
    assert problems(repo, exported) == [
        f"{LOCK} lacks onlyx86==1.0, which uv.lock for Lambda x86_64 needs: make lock"
    ]


def test_runtime_provided_package_and_unhashed_pin_are_reported(repo: Path) -> None:
    (repo / LOCK).write_text((repo / LOCK).read_text() + "botocore==1.44.8\n    # via x\n")
    assert problems(repo) == [
        f"{LOCK} pins botocore, which the Lambda runtime provides",
        f"{LOCK} pins botocore without a hash",
    ]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (f"--python-version {PYTHON_VERSION} ", "--python-version 3.13 ",
         f"was compiled without `--python-version {PYTHON_VERSION}`"),
        ("--generate-hashes ", "", "was compiled without `--generate-hashes`"),
        ("--no-emit-package boto3 ", "",
         "was compiled without `--no-emit-package boto3` (the runtime provides it)"),
        ("aarch64-manylinux_2_28", "ppc64le-manylinux_2_28",
         "was compiled for no Lambda machine (aarch64, x86_64)"),
        ("#    uv pip compile", "#    pip-compile",
         "was not written by `uv pip compile` (its header says how): make lock"),
    ],
    ids=["python-version", "hashes", "runtime-package", "machine", "not-uv"],
)  # fmt: skip
def test_a_lock_compiled_for_another_target_is_reported(
    repo: Path, old: str, new: str, problem: str
) -> None:
    _edit(repo / LOCK, old, new)
    assert problems(repo) == [f"{LOCK} {problem}"]


def test_a_range_in_the_lambda_lock_is_reported(repo: Path) -> None:
    _edit(repo / LOCK, "\nzipp==", "\nzipp>=")
    assert problems(repo) == [f"{LOCK}: not an exact pin: zipp>=4.1.2"]


def test_the_installed_cloud_assembly_schema_module_is_aws_cdk_libs() -> None:
    """Two wheels ship aws_cdk/cloud_assembly_schema/__init__.py; make setup keeps aws-cdk-lib's
    (its types are named aws-cdk-lib.cloud_assembly_schema.*), which aws-cdk-lib needs."""
    import aws_cdk.cloud_assembly_schema as schema  # noqa: PLC0415

    text = Path(schema.__file__).read_text()
    assert 'jsii_type="aws-cdk-lib.cloud_assembly_schema.MetadataEntry"' in text, (
        "aws_cdk/cloud_assembly_schema is aws-cdk.cloud-assembly-schema's copy: run make setup "
        "(it installs aws-cdk-lib after every other package)"
    )
