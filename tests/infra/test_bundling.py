"""Real Docker-free bundling of the Lambda asset (pip downloads manylinux wheels)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stacks.app_builder import LAMBDA_SRC
from stacks.components.bundling import PYTHON_VERSION, LocalPipBundler

pytestmark = pytest.mark.bundling


def test_pip_command_targets_lambda_platform() -> None:
    cmd = LocalPipBundler(LAMBDA_SRC, "orders", "arm64").pip_command("/out")
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    joined = " ".join(cmd)
    assert "--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64" in joined
    assert f"--python-version {PYTHON_VERSION}" in joined
    assert "--only-binary=:all:" in joined
    assert "--implementation cp" in joined


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
