"""Real Docker-free bundling of the Lambda asset (pip downloads manylinux wheels)."""

from __future__ import annotations

import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks.app_builder import LAMBDA_SRC
from stacks.components.bundling import LocalPipBundler
from stacks.lambda_target import PYTHON_VERSION, RUNTIME_PROVIDED, marker_environment

pytestmark = pytest.mark.bundling


def test_pip_command_targets_lambda_platform() -> None:
    cmd = LocalPipBundler(LAMBDA_SRC, "orders", "arm64").pip_command("/out")
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    joined = " ".join(cmd)
    assert "--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64" in joined
    assert f"--python-version {PYTHON_VERSION}" in joined
    assert "--only-binary=:all:" in joined
    assert "--implementation cp" in joined
    assert "--no-deps" in cmd  # requirements.txt pins the whole closure


def _unmet_requirements(asset: Path, machine: str) -> list[str]:
    """Requirements of bundled distributions that neither the asset nor the runtime provides."""
    bundled: set[str] = set()
    requires: list[tuple[str, Requirement]] = []
    for dist_info in asset.glob("*.dist-info"):
        metadata = Parser().parsestr((dist_info / "METADATA").read_text())
        name = canonicalize_name(metadata["Name"])
        bundled.add(name)
        requires += [(name, Requirement(r)) for r in metadata.get_all("Requires-Dist") or []]
    lambda_env = marker_environment(machine)
    available = bundled | {canonicalize_name(n) for n in RUNTIME_PROVIDED}
    return sorted(
        f"{owner} needs {req}"
        for owner, req in requires
        if (req.marker is None or req.marker.evaluate(lambda_env))
        and canonicalize_name(req.name) not in available
    )


@pytest.mark.parametrize(("architecture", "machine"), [("arm64", "aarch64")])
def test_bundle_contains_package_native_driver_and_ca(
    tmp_path: Path, architecture: str, machine: str
) -> None:
    package = LAMBDA_SRC / "orders"
    if not package.is_dir():
        pytest.fail(f"{package} is missing: the Lambda package (runtime issue) has not landed")
    assert LocalPipBundler(LAMBDA_SRC, "orders", architecture).try_bundle(str(tmp_path), None)

    assert (tmp_path / "orders" / "__init__.py").is_file()
    assert not list(tmp_path.glob("orders/**/__pycache__"))
    for handler in ("api", "direct", "migrate"):
        assert (tmp_path / "orders" / "handlers" / f"{handler}.py").is_file(), handler
    native = list((tmp_path / "psycopg_binary").glob("*.so"))
    assert native, "psycopg_binary has no compiled module"
    wheel = next(tmp_path.glob("psycopg_binary-*.dist-info"))
    tags = (wheel / "WHEEL").read_text()
    assert f"cp{PYTHON_VERSION.replace('.', '')}" in tags
    assert machine in tags, tags
    ca = tmp_path / "orders" / "certs" / "AmazonRootCA1.pem"
    assert ca.is_file(), (
        "orders/certs/AmazonRootCA1.pem is missing from the asset: the Lambda package must ship "
        "Amazon Root CA 1 (the proxy's certificates chain to it) for sslmode=verify-full"
    )
    assert "BEGIN CERTIFICATE" in ca.read_text()
    # Every dependency is bundled or provided by the runtime, and the runtime's boto3 tree is
    # not bundled a second time.
    assert _unmet_requirements(tmp_path, machine) == []
    assert not (tmp_path / "botocore").exists()
    size_mib = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) / 2**20
    print(f"bundled asset ({architecture}): {size_mib:.1f} MiB unzipped")
