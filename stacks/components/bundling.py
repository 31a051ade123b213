"""Docker-free bundling of lambda_src: pip installs manylinux wheels, then copies the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.lambda_target import MACHINE_OF, PYTHON_VERSION

# Never part of the asset (and never part of its source hash).
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".pytest_cache", ".mypy_cache", "*.egg-info"]


@jsii.implements(ILocalBundling)
class LocalPipBundler:
    """Bundles `<source>/requirements.txt` + `<source>/<package>/` for Lambda without Docker."""

    def __init__(self, source: Path, package: str, architecture: str) -> None:
        self.source = source
        self.package = package
        self.machine = MACHINE_OF[architecture]

    def pip_command(self, output_dir: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--platform",
            f"manylinux2014_{self.machine}",
            "--platform",
            f"manylinux_2_28_{self.machine}",
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--no-deps",
            "--target",
            output_dir,
            "-r",
            str(self.source / "requirements.txt"),
        ]

    # jsii calls this positionally; the signature must stay (output_dir, options).
    def try_bundle(self, output_dir: str, options: Any) -> bool:
        package_dir = self.source / self.package
        if not package_dir.is_dir():
            raise RuntimeError(f"Lambda package {package_dir} does not exist: nothing to bundle")
        subprocess.run(self.pip_command(output_dir), check=True)  # noqa: S603
        shutil.copytree(
            package_dir,
            Path(output_dir) / self.package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def lambda_code(
    source: Path, package: str, architecture: str, runtime: lambda_.Runtime
) -> lambda_.Code:
    """Asset code for `package` with its pinned dependencies for `architecture`.

    The Docker image is required by the API but never pulled: local bundling always succeeds
    or raises.
    """
    return lambda_.Code.from_asset(
        str(source),
        exclude=ASSET_EXCLUDES,
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            # Part of the asset hash: an architecture switch must produce a new asset.
            environment={"TARGET_ARCH": architecture, "PYTHON_VERSION": PYTHON_VERSION},
            # jsii passes the options positionally at runtime, which the generated Protocol
            # (keyword-only options) cannot express.
            local=LocalPipBundler(source, package, architecture),  # type: ignore[arg-type]
            command=["false"],  # never used: the local bundler either succeeds or raises
        ),
    )
