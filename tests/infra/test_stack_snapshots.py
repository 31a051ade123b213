"""Snapshot of every stack of every cdk.json environment; content hashes normalised.

Update after an intended change (a retune, a new environment): `make snapshot-update`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from infra_support import Synthesized
from syrupy.assertion import SnapshotAssertion

pytestmark = pytest.mark.infra

_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(value: Any) -> Any:
    """Replace content hashes (asset S3 keys, the migration SourceHash) with a placeholder."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return _HASH.sub("<hash>", value)
    return value


@pytest.mark.parametrize("tier", ["Data", "Service"])
def test_stack_snapshot(shipped: Synthesized, tier: str, snapshot: SnapshotAssertion) -> None:
    template = shipped.data if tier == "Data" else shipped.service
    assert normalise(template.to_json()) == snapshot


def test_ci_access_snapshot(
    shipped_apps: dict[str, Synthesized], snapshot: SnapshotAssertion
) -> None:
    """The CI access stack (cdk.json `ci`): the same in every environment's app."""
    templates = [normalise(app.ci.to_json()) for app in shipped_apps.values() if app.ci]
    assert templates, "cdk.json has a `ci` section: every app holds the CI access stack"
    assert all(t == templates[0] for t in templates)
    assert templates[0] == snapshot
