"""Session fixtures: each environment's app is built once, exactly as app.py builds it."""

from __future__ import annotations

import pytest
from infra_support import ENVS, Synthesized, build_variant, synthesize

from stacks.app_builder import build_for_env


@pytest.fixture(scope="session")
def synthesized() -> dict[str, Synthesized]:
    return {env: synthesize(build_for_env(env)) for env in ENVS}


@pytest.fixture(scope="session", params=ENVS)
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def synth(synthesized: dict[str, Synthesized], env_name: str) -> Synthesized:
    return synthesized[env_name]


@pytest.fixture(scope="session")
def secrets_mode() -> Synthesized:
    return synthesize(build_variant("dev", proxy={"auth_mode": "secrets"}))
