"""Session fixtures: each app is built once, exactly as app.py builds it.

`synth` is parametrized over the fixture environments (numbers asserted against fixture
config); `shipped` over whatever cdk.json holds (gates and invariants only, no copied numbers).
These session builds run both gates, cdk-nag and the Control Tower controls, as `make synth`
does; the tests' own small builds skip the second (stacks/control_tower.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from infra_support import Synthesized, build_fixture, synthesize

from stacks.app_builder import build_for_env
from stacks.loader import environment_names
from tests.fixture_config import FIXTURE_ENVS, SMALL


@pytest.fixture(scope="session")
def fixture_app() -> Callable[[str], Synthesized]:
    """Builds a fixture environment's app on first use: a test of one environment builds only
    that one (tests/conftest.py keeps the fixture environments' tests on one worker)."""
    return functools.cache(lambda env: synthesize(build_fixture(env, control_tower_gate=True)))


@pytest.fixture(scope="session")
def synthesized(fixture_app: Callable[[str], Synthesized]) -> dict[str, Synthesized]:
    return {env: fixture_app(env) for env in FIXTURE_ENVS}


@pytest.fixture(scope="session", params=FIXTURE_ENVS)
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def synth(fixture_app: Callable[[str], Synthesized], env_name: str) -> Synthesized:
    return fixture_app(env_name)


@pytest.fixture(scope="session")
def secrets_mode() -> Synthesized:
    return synthesize(build_fixture(SMALL, control_tower_gate=True, proxy={"auth_mode": "secrets"}))


@pytest.fixture(scope="session")
def shipped_app() -> Callable[[str], Synthesized]:
    """An environment of cdk.json as `make synth ENV=<name>` builds it, built on first use."""
    return functools.cache(lambda env: synthesize(build_for_env(env, control_tower_gate=True)))


@pytest.fixture(scope="session")
def shipped_apps(shipped_app: Callable[[str], Synthesized]) -> dict[str, Synthesized]:
    """Every environment of cdk.json."""
    return {env: shipped_app(env) for env in environment_names()}


@pytest.fixture(scope="session", params=environment_names())
def shipped_env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def shipped(shipped_app: Callable[[str], Synthesized], shipped_env: str) -> Synthesized:
    return shipped_app(shipped_env)
