"""Compile requirements*.txt from their .in files with uv (`make lock`), or check them offline."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from stacks.components.bundling import PYTHON_VERSION, RUNTIME_PROVIDED

ROOT = Path(__file__).resolve().parent.parent
COMPILE_COMMAND = "make lock"
HEADER = f"#    {COMPILE_COMMAND}"
# The CDK app and the tools run on any Python the project supports (pyproject requires-python)
# and any OS: their locks are universal (markers where needed; a package whose newest release
# drops an older Python gets one pin per Python range).
UNIVERSAL = ("--universal", "--python-version", "3.11")
# Every architecture functions.architecture accepts. The bundler installs with --no-deps, so
# the one Lambda lock must pin the same closure for each: `make lock` resolves it for all.
LAMBDA_PLATFORMS = ("aarch64-manylinux_2_28", "x86_64-manylinux_2_28")


@dataclass(frozen=True)
class Lock:
    """One .in compiled into one .txt, and what it is resolved for."""

    source: str
    output: str
    options: tuple[str, ...]
    platforms: tuple[str | None, ...] = (None,)
    excluded: frozenset[str] = field(default_factory=frozenset)
    # Locks it must agree with, passed as -c (a -c inside the .in would be read by every file
    # that includes it with -r, and a lock constrained by itself never upgrades).
    constraints: tuple[str, ...] = ()


# In order: the Lambda lock first (what ships in the bundle), then the dev lock, which includes
# every .in and is constrained by the Lambda lock, then the CDK app's lock, a subset of the dev
# lock (the CDK app runs in the dev venv: botocore there caps python-dateutil, for one).
LOCKS = (
    Lock(
        "lambda_src/requirements.in",
        "lambda_src/requirements.txt",
        # Wheels only, as the bundler installs them (pip --only-binary=:all:).
        ("--python-version", PYTHON_VERSION, "--only-binary", ":all:"),
        platforms=LAMBDA_PLATFORMS,
        excluded=frozenset(canonicalize_name(n) for n in RUNTIME_PROVIDED),
    ),
    Lock("requirements-dev.in", "requirements-dev.txt", UNIVERSAL),
    Lock("requirements.in", "requirements.txt", UNIVERSAL, constraints=("requirements-dev.txt",)),
)


@dataclass
class Pin:
    """The `name==version` line(s) of a package in a lock and its `# via` annotations."""

    versions: list[str]
    via: list[str] = field(default_factory=list)

    @property
    def shown(self) -> str:
        return " and ".join(f"=={v}" for v in self.versions)


@dataclass
class LockFile:
    header: list[str]
    pins: dict[NormalizedName, Pin]
    excluded: set[NormalizedName]


@dataclass
class InputFile:
    """The top-level requirements of one .in and the files it includes or is constrained by."""

    requirements: list[Requirement]
    includes: list[str]
    constraints: list[str]


def read_lock(path: Path) -> LockFile:
    """Parses uv's output (annotation style `split`)."""
    header: list[str] = []
    pins: dict[NormalizedName, Pin] = {}
    excluded: set[NormalizedName] = set()
    current: Pin | None = None
    in_excluded = False
    for raw in path.read_text().splitlines():
        line = raw.rstrip()
        if not line:
            continue
        if line.startswith("# The following packages were excluded"):
            in_excluded, current = True, None
        elif in_excluded and line.startswith("# "):
            excluded.add(canonicalize_name(line[2:].strip()))
        elif line.startswith("#"):
            header.append(line)
        elif line.startswith("    #"):
            entry = line.strip().removeprefix("#").strip()
            entry = entry.removeprefix("via").strip()
            if current is None:
                raise ValueError(f"{path}: annotation without a requirement: {line!r}")
            if entry:
                current.via.append(entry)
        else:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            if spec.operator != "==":
                raise ValueError(f"{path}: not an exact pin: {line!r}")
            # A universal lock pins a package once per Python range where the versions differ.
            current = pins.setdefault(canonicalize_name(requirement.name), Pin([]))
            current.versions.append(spec.version)
    return LockFile(header, pins, excluded)


def read_input(path: Path, root: Path) -> InputFile:
    """Top-level requirements of a .in; `-r`/`-c` paths relative to the repository root."""
    parsed = InputFile([], [], [])
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        option, _, argument = line.partition(" ")
        if option in ("-r", "-c"):
            target = (path.parent / argument.strip()).resolve().relative_to(root.resolve())
            (parsed.includes if option == "-r" else parsed.constraints).append(str(target))
        elif line.startswith("-"):
            raise ValueError(f"{path}: option not supported by tools/lock.py: {line!r}")
        else:
            try:
                parsed.requirements.append(Requirement(line))
            except InvalidRequirement as exc:
                raise ValueError(f"{path}: {exc}") from exc
    return parsed


def _input_tree(root: Path, source: str) -> dict[str, InputFile]:
    """The .in and every file it includes with -r, by path relative to root."""
    tree: dict[str, InputFile] = {}
    todo = [source]
    while todo:
        name = todo.pop()
        if name not in tree:
            tree[name] = read_input(root / name, root)
            todo += tree[name].includes
    return tree


def lock_problems(root: Path, lock: Lock) -> list[str]:
    """Why `lock.output` no longer matches `lock.source` (empty when current). No network."""
    out = lock.output
    if not (root / out).is_file():
        return [f"{out} is missing: run `make lock`"]
    parsed = read_lock(root / out)
    tree = _input_tree(root, lock.source)
    problems = []
    if HEADER not in parsed.header:
        problems.append(f"{out} was not generated by `{COMPILE_COMMAND}` (its header says so)")
    problems += _unmet_requests(out, parsed, tree)
    problems += _unexplained_pins(out, parsed, tree)
    problems += [
        f"{out} pins {key}, which it must leave out (the Lambda runtime provides it)"
        for key in sorted(lock.excluded & parsed.pins.keys())
    ]
    constraints = {c for f in tree.values() for c in f.constraints} | set(lock.constraints)
    for constraint in sorted(constraints):
        problems += _disagreements(root, out, parsed, constraint)
    return problems


def _unmet_requests(out: str, parsed: LockFile, tree: dict[str, InputFile]) -> list[str]:
    """Requirements of the .in files that the lock does not pin, or pins outside their range."""
    problems = []
    for name, input_file in tree.items():
        for requirement in input_file.requirements:
            key = canonicalize_name(requirement.name)
            pin = parsed.pins.get(key)
            if pin is None:
                problems.append(f"{name} asks for {requirement.name}, {out} does not pin it")
                continue
            if not all(requirement.specifier.contains(v, prereleases=True) for v in pin.versions):
                problems.append(f"{name} asks for {requirement}, {out} pins {key}{pin.shown}")
            if f"-r {name}" not in pin.via:
                problems.append(f"{out} does not record {requirement.name} as asked for by {name}")
    return problems


def _unexplained_pins(out: str, parsed: LockFile, tree: dict[str, InputFile]) -> list[str]:
    """Pins whose `# via` reasons are gone: dropped from a .in, or their dependent unpinned."""
    asked = {name: {canonicalize_name(r.name) for r in f.requirements} for name, f in tree.items()}
    known = parsed.pins.keys() | parsed.excluded
    problems = []
    for key, pin in parsed.pins.items():
        if not pin.via:
            problems.append(f"{out} pins {key} for no reason (no `# via`)")
        for reason in pin.via:
            option, _, source = reason.partition(" ")
            if option == "-r" and key not in asked.get(source, set()):
                problems.append(f"{out} pins {key} via {source}, which no longer asks for it")
            elif option not in ("-r", "-c") and canonicalize_name(reason) not in known:
                problems.append(f"{out} pins {key} via {reason}, which it does not pin")
    return problems


def _disagreements(root: Path, out: str, parsed: LockFile, constraint: str) -> list[str]:
    if not (root / constraint).is_file():
        return [f"{out} is constrained by {constraint}, which is missing: run `make lock`"]
    other = read_lock(root / constraint).pins
    return [
        f"{out} pins {key}{pin.shown} but {constraint} pins {other[key].shown}: run `make lock`"
        for key, pin in sorted(parsed.pins.items())
        if key in other and not set(pin.versions) <= set(other[key].versions)
    ]


def check(root: Path = ROOT) -> list[str]:
    """Every lock's problems; empty when every .txt is current with its .in."""
    return [problem for lock in LOCKS for problem in lock_problems(root, lock)]


def _uv_compile(lock: Lock, output: Path, platform: str | None, upgrade: bool) -> None:
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        "--quiet",
        lock.source,
        "--output-file",
        str(output),
        "--custom-compile-command",
        COMPILE_COMMAND,
        # Resolve for the target with the interpreter at hand; never fetch a managed Python.
        "--no-python-downloads",
        *lock.options,
    ]
    for name in sorted(lock.excluded):
        command += ["--no-emit-package", name]
    for constraint in lock.constraints:
        command += ["--constraint", constraint]
    if platform:
        command += ["--python-platform", platform]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603


def compile_all(upgrade: bool) -> list[str]:
    """Re-compiles every lock in order; the extra Lambda platforms must resolve the same."""
    problems = []
    for lock in LOCKS:
        first, *others = lock.platforms
        _uv_compile(lock, ROOT / lock.output, first, upgrade)
        pinned = {k: p.shown for k, p in read_lock(ROOT / lock.output).pins.items()}
        for platform in others:
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / Path(lock.output).name
                copy.write_text((ROOT / lock.output).read_text())
                _uv_compile(lock, copy, platform, upgrade=False)
                theirs = {k: p.shown for k, p in read_lock(copy).pins.items()}
            if theirs != pinned:
                diff = sorted(set(theirs.items()) ^ set(pinned.items()))
                problems.append(f"{lock.output} resolves differently for {platform}: {diff}")
        print(f"locked {lock.output} ({len(pinned)} packages) from {lock.source}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="offline: fail if a lock is stale")
    mode.add_argument("--upgrade", action="store_true", help="move every pin to the newest allowed")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository to --check")
    args = parser.parse_args(argv)
    problems = check(args.root) if args.check else compile_all(args.upgrade) + check()
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if not problems and args.check:
        print(f"locks current: {', '.join(lock.output for lock in LOCKS)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
