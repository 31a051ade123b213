"""Fixtures for the ops script tests: the fixture configuration instead of cdk.json, a clean
AWS environment and stubbed clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import ops.cdk_app
import stacks.loader
from ops.aws import Clients
from ops.preflight_checks import PreflightClients
from tests.fixture_config import fixture_context
from tests.ops.aws_stubs import ACCESS_KEY, REGION, Stubbed
from tests.ops.preflight_stubs import Stubs

_read_shipped = stacks.loader.read_context


def _read_fixture(cdk_json: Path | None = None) -> dict[str, Any]:
    """The fixture configuration; a test that names a file (read_context(CDK_JSON)) reads it."""
    return fixture_context() if cdk_json is None else _read_shipped(cdk_json)


def _readers() -> list[ModuleType]:
    """Every loaded module of ops/ and stacks/ that holds read_context under its own name:
    stacks.loader (load, environment_names, default_env: what ops.aws, ops.smoke, ops.preflight
    and add_common_arguments' --env choices call) and ops.cdk_app (the context preflight's
    synthesis and the bootstrap qualifier read)."""
    return [
        module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in {"ops", "stacks"}
        and getattr(module, "read_context", None) is _read_shipped
    ]


@pytest.fixture(autouse=True)
def fixture_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops scripts load tests/fixture_config.py, never cdk.json: a fork renames the app,
    adds environments and retunes them, and these tests still test the scripts."""
    readers = _readers()
    assert {stacks.loader, ops.cdk_app} <= set(readers)
    for module in readers:
        monkeypatch.setattr(module, "read_context", _read_fixture)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real credentials, config or instance metadata can leak into a test."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def fake_clients() -> Clients:
    """Clients with example credentials, built once: loading service models is the slow part."""
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=REGION,
    )
    credentials = session.get_credentials()
    assert credentials is not None
    return Clients(
        region=REGION,
        cloudformation=session.client("cloudformation"),
        lambda_=session.client("lambda"),
        cloudwatch=session.client("cloudwatch"),
        credentials=credentials.get_frozen_credentials(),
        rds=session.client("rds"),
    )


@pytest.fixture
def stubbed(aws_env: None, fake_clients: Clients) -> Iterator[Stubbed]:
    assert fake_clients.rds is not None
    stubs = Stubbed(
        fake_clients,
        Stubber(fake_clients.cloudformation),
        Stubber(fake_clients.lambda_),
        Stubber(fake_clients.cloudwatch),
        Stubber(fake_clients.rds),
    )
    with stubs.cloudformation, stubs.lambda_, stubs.cloudwatch, stubs.rds:
        yield stubs


@pytest.fixture(scope="session")
def preflight_clients() -> PreflightClients:
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=REGION,
    )
    return PreflightClients(
        region=REGION,
        sts=session.client("sts"),
        ssm=session.client("ssm"),
        cloudformation=session.client("cloudformation"),
        lambda_=session.client("lambda"),
        rds=session.client("rds"),
        ec2=session.client("ec2"),
        sns=session.client("sns"),
        service_quotas=session.client("service-quotas"),
    )


@pytest.fixture
def account_stubs(aws_env: None, preflight_clients: PreflightClients) -> Iterator[Stubs]:
    names = ("sts", "ssm", "cloudformation", "lambda_", "rds", "ec2", "sns", "service_quotas")
    stubs = Stubs(preflight_clients, {n: Stubber(getattr(preflight_clients, n)) for n in names})
    with ExitStack() as stack:
        for stub in stubs.stubbers.values():
            stack.enter_context(stub)
        yield stubs
