"""Offline check that lambda_src/requirements.txt is uv.lock's resolution for the Lambda bundle.

`make lock` compiles the Lambda lock with `uv pip compile` for the bundle's target and seeds it
with uv.lock's versions; re-running that compile needs PyPI, so `make lint` checks the result
against `uv export --frozen` instead: for each machine the bundle targets, the packages the
functions need there (markers evaluated as Lambda's Python does), minus what the runtime provides,
at uv.lock's versions, each with its hashes, compiled with the bundler's Python version. (The
bundling test installs it for real: pip checks the hashes.)
`uv lock --check` keeps uv.lock itself current with lambda_src/requirements.in.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from stacks.lambda_target import MACHINES, PYTHON_VERSION, RUNTIME_PROVIDED
from stacks.lambda_target import marker_environment as lambda_environment

ROOT = Path(__file__).resolve().parent.parent
LOCK = "lambda_src/requirements.txt"
# What the functions need: the project's own dependencies (lambda_src/requirements.in), no group.
EXPORT = (
    *("export", "--frozen", "--offline", "--quiet", "--no-dev", "--no-emit-project"),
    *("--no-hashes", "--no-header", "--no-annotate"),
)
# Options the compile must have used, whatever else it was given (`make lock`).
COMPILE_OPTIONS = ("--only-binary :all:", "--generate-hashes", f"--python-version {PYTHON_VERSION}")


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: frozenset[str]

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version


def read_pins(text: str, source: str) -> list[Pin]:
    """The `name==version [; marker] [--hash=...]` entries of a requirements file."""
    pins = []
    for line in text.replace("\\\n", " ").splitlines():
        entry = line.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        words = entry.split()
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--")))
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"{source}: not an exact pin: {requirement}")
        hashes = frozenset(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
        pins.append(Pin(requirement, hashes))
    return pins


def uv_export(root: Path) -> str:
    """uv.lock's packages for the functions, universal (markers kept). Offline."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "uv", *EXPORT, "--project", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"uv export failed: {result.stderr.strip()}")
    return result.stdout


def _compile_command(text: str) -> str | None:
    """The `uv pip compile ...` command line uv wrote into the lock's header, if any."""
    for line in text.splitlines()[:3]:
        command = line.removeprefix("#").strip()
        if command.startswith("uv pip compile "):
            return " ".join(shlex.split(command))
    return None


def problems(root: Path = ROOT, exported: str | None = None) -> list[str]:
    """Why the Lambda lock is not uv.lock's resolution for the bundle (empty when it is)."""
    path = root / LOCK
    if not path.is_file():
        return [f"{LOCK} is missing: run `make lock`"]
    text = path.read_text()
    found = []
    command = _compile_command(text)
    if command is None:
        found.append(f"{LOCK} was not written by `uv pip compile` (its header says how): make lock")
    else:
        found += [f"{LOCK} was compiled without `{o}`" for o in COMPILE_OPTIONS if o not in command]
        found += [
            f"{LOCK} was compiled without `--no-emit-package {name}` (the runtime provides it)"
            for name in sorted(RUNTIME_PROVIDED)
            if f"--no-emit-package {name}" not in command
        ]
        if not any(f"--python-platform {m}-" in command for m in MACHINES):
            found.append(f"{LOCK} was compiled for no Lambda machine ({', '.join(MACHINES)})")
    try:
        pins = {pin.key: pin for pin in read_pins(text, LOCK)}
    except ValueError as exc:
        return [*found, str(exc)]
    runtime: set[str] = {canonicalize_name(n) for n in RUNTIME_PROVIDED}
    found += [
        f"{LOCK} pins {key}, which the Lambda runtime provides"
        for key in sorted(pins.keys() & runtime)
    ]
    found += [
        f"{LOCK} pins {key} without a hash" for key, pin in sorted(pins.items()) if not pin.hashes
    ]
    universal = read_pins(uv_export(root) if exported is None else exported, "uv export")
    wanted = {machine: _needed(universal, runtime, machine) for machine in MACHINES}
    if all(needs == wanted[MACHINES[0]] for needs in wanted.values()):
        wanted = {" and ".join(MACHINES): wanted[MACHINES[0]]}
    for machine, needs in wanted.items():
        found += _disagreements(pins, needs, runtime, f"uv.lock for Lambda {machine}")
    return found


def _needed(universal: list[Pin], runtime: set[str], machine: str) -> dict[NormalizedName, str]:
    """What the functions need on `machine`, by uv.lock: name -> version."""
    env = lambda_environment(machine)
    return {
        pin.key: pin.version
        for pin in universal
        if pin.key not in runtime
        and (pin.requirement.marker is None or pin.requirement.marker.evaluate(env))
    }


def _disagreements(
    pins: dict[NormalizedName, Pin], needs: dict[NormalizedName, str], runtime: set[str], where: str
) -> list[str]:
    found = [f"{LOCK} lacks {key}=={version}, which {where} needs: make lock"
             for key, version in sorted(needs.items()) if key not in pins]  # fmt: skip
    found += [f"{LOCK} pins {key}, which {where} does not need: make lock"
              for key in sorted(pins.keys() - needs.keys() - runtime)]  # fmt: skip
    for key in sorted(pins.keys() & needs.keys()):
        if pins[key].version != needs[key]:
            found.append(
                f"{LOCK} pins {key}=={pins[key].version}, {where} =={needs[key]}: make lock"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to check")
    args = parser.parse_args(argv)
    found = problems(args.root)
    for problem in found:
        print(f"lambda lock: {problem}", file=sys.stderr)
    if not found:
        target = f"{' and '.join(MACHINES)}, Python {PYTHON_VERSION}"
        print(f"{LOCK} is uv.lock's resolution for the Lambda bundle ({target})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
