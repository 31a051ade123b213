"""ops.cdk_app: the bootstrap version comes from the synthesized cloud assembly, not a constant."""

from __future__ import annotations

from typing import Any

import pytest

from ops.cdk_app import requirement_from_manifest, synthesized_requirement
from stacks.loader import QUALIFIER_CONTEXT_KEY, default_env, load
from tests.fixture_config import APP_NAME, SMALL

pytestmark = pytest.mark.ops


def stack(version: int | None, parameter: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"templateFile": "x.template.json"}
    if version is not None:
        properties["requiresBootstrapStackVersion"] = version
    if parameter is not None:
        properties["bootstrapStackVersionSsmParameter"] = parameter
    return {"type": "aws:cloudformation:stack", "properties": properties}


def manifest(**stacks: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "48.0.0",
        "artifacts": {**stacks, "Tree": {"type": "cdk:tree", "properties": {"file": "t.json"}}},
    }


def test_the_highest_version_any_stack_needs_wins() -> None:
    found = requirement_from_manifest(
        manifest(
            Data=stack(6, "/cdk-bootstrap/hnb659fds/version"),
            Service=stack(21, "/cdk-bootstrap/hnb659fds/version"),
        ),
        ["Data", "Service"],
        context={},
        toolkit_stack="CDKToolkit",
    )
    assert (found.version, found.parameter) == (21, "/cdk-bootstrap/hnb659fds/version")


def test_the_qualifier_in_context_names_the_parameter() -> None:
    found = requirement_from_manifest(
        manifest(Data=stack(6), Service=stack(6)),
        ["Data", "Service"],
        context={QUALIFIER_CONTEXT_KEY: "team01"},
        toolkit_stack="TeamToolkit",
    )
    assert (found.parameter, found.qualifier, found.toolkit_stack) == (
        "/cdk-bootstrap/team01/version",
        "team01",
        "TeamToolkit",
    )


@pytest.mark.parametrize(
    ("artifacts", "message"),
    [
        ({"Data": stack(6)}, r"has stacks \['Data'\], expected \['Data', 'Service'\]"),
        ({"Data": stack(None), "Service": stack(None)}, "names requiresBootstrapStackVersion"),
        (
            {"Data": stack(6, "/cdk-bootstrap/a/version"), "Service": stack(6, "/x/version")},
            "different bootstrap parameters",
        ),
    ],
)
def test_an_unexpected_assembly_is_an_error(artifacts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        requirement_from_manifest(
            manifest(**artifacts), ["Data", "Service"], context={}, toolkit_stack="CDKToolkit"
        )


def test_the_real_app_names_its_bootstrap_needs() -> None:
    """Synthesizes the app's default environment in-process (a few seconds, as make preflight
    does), here the fixture configuration's: its two stacks must be in the cloud assembly."""
    config = load(default_env())
    assert config.data_stack_name == f"{APP_NAME}-{SMALL}-Data"  # conftest.py: not cdk.json
    need = synthesized_requirement(config)
    # DefaultStackSynthesizer's floor is 6; a newer CDK may ask for more, never less
    assert need.version >= 6
    assert need.parameter == f"/cdk-bootstrap/{need.qualifier}/version"
