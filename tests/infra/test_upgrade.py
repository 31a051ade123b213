"""An environment deployed from an earlier version upgrades: the data stack, deployed first,
still exports everything the deployed service stack imports (CloudFormation refuses to remove
an export in use, and the data stack's update would roll back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infra_support import Synthesized

EARLIER = json.loads((Path(__file__).parent / "data" / "service_imports_ab525ae.json").read_text())


@pytest.mark.parametrize("env", sorted(EARLIER["imports"]))
def test_the_data_stack_keeps_every_export_an_earlier_service_stack_imports(
    shipped_apps: dict[str, Synthesized], env: str
) -> None:
    app = shipped_apps[env]
    exported = {
        output["Export"]["Name"]
        for output in app.data.to_json()["Outputs"].values()
        if "Export" in output
    }
    stack = app.built.data.stack_name
    wanted = {f"{stack}:{name}" for name in EARLIER["imports"][env]}
    assert wanted - exported == set()
