"""Session fixtures: each app is built once, exactly as app.py builds it.

`synth` is parametrized over the fixture environments (numbers asserted against fixture
config); `shipped` over whatever cdk.json holds (gates and invariants only, no copied numbers).
These session builds run both gates, cdk-nag and the Control Tower controls, as `make synth`
does; the tests' own small builds skip the second (stacks/control_tower.py).
"""

from __future__ import annotations

import pytest
from infra_support import Synthesized, build_fixture, synthesize

from stacks.app_builder import build_for_env
from stacks.loader import environment_names
from tests.fixture_config import FIXTURE_ENVS, SMALL


@pytest.fixture(scope="session")
def synthesized() -> dict[str, Synthesized]:
    return {env: synthesize(build_fixture(env, control_tower_gate=True)) for env in FIXTURE_ENVS}


@pytest.fixture(scope="session", params=FIXTURE_ENVS)
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def synth(synthesized: dict[str, Synthesized], env_name: str) -> Synthesized:
    return synthesized[env_name]


@pytest.fixture(scope="session")
def secrets_mode() -> Synthesized:
    return synthesize(build_fixture(SMALL, control_tower_gate=True, proxy={"auth_mode": "secrets"}))


@pytest.fixture(scope="session")
def shipped_apps() -> dict[str, Synthesized]:
    """Every environment of cdk.json as `make synth ENV=<name>` builds it."""
    return {
        env: synthesize(build_for_env(env, control_tower_gate=True)) for env in environment_names()
    }


@pytest.fixture(scope="session", params=environment_names())
def shipped_env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def shipped(shipped_apps: dict[str, Synthesized], shipped_env: str) -> Synthesized:
    return shipped_apps[shipped_env]
