"""A first deploy never waits on a user that does not exist yet.

The RDS Proxy target group's Create and Update poll until every target is AVAILABLE and roll back
after 20 minutes (stacks/aws_facts.PROXY_TARGET_GROUP_WAITS_FOR_HEALTH); a new rotation schedule
rotates the app-user secret at once. Both log in as the app user, so the resource that creates it
must come first, in the same stack. The roles are identified from the templates alone (the
`Step` property and the handler string are written here as literals), for the cdk.json
environments as `make synth` builds them, in both auth modes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from infra_support import Synthesized, synthesize

from stacks.app_builder import build_from_context
from stacks.loader import environment_names, read_context

MIGRATE_HANDLER = "orders.handlers.migrate.handler"


def _with_auth_mode(env: str, mode: str) -> Synthesized:
    """`make synth ENV=env` with cdk.json's proxy.auth_mode for that environment set to mode."""
    context = copy.deepcopy(read_context())
    context["environments"][env].setdefault("proxy", {})["auth_mode"] = mode
    return synthesize(build_from_context(context, env))


@pytest.fixture(scope="module", params=["iam", "secrets"])
def auth_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def by_mode(
    shipped_apps: dict[str, Synthesized], auth_mode: str
) -> dict[str, tuple[Synthesized, str]]:
    """Every cdk.json environment in this auth mode (shipped as is where it already is)."""
    apps: dict[str, tuple[Synthesized, str]] = {}
    for env in environment_names():
        shipped = shipped_apps[env]
        same = shipped.built.config.proxy.auth_mode == auth_mode
        apps[env] = (shipped if same else _with_auth_mode(env, auth_mode), auth_mode)
    return apps


# The database the bootstrap and the rotated secret point at, per engine (literal ids).
_DATABASE = {
    "postgres": ("DatabaseInstance", "AWS::RDS::DBInstance"),
    "aurora-postgresql": ("DatabaseCluster", "AWS::RDS::DBCluster"),
}


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _depends_on(resource: dict[str, Any]) -> set[str]:
    deps = resource.get("DependsOn", [])
    return {deps} if isinstance(deps, str) else set(deps)


def _custom_resources_with_step(template: dict[str, Any], step: str) -> list[str]:
    return [
        logical_id
        for logical_id, r in template["Resources"].items()
        if r["Type"].startswith("Custom::") and r["Properties"].get("Step") == step
    ]


def _user_function(template: dict[str, Any], custom_resource: dict[str, Any]) -> dict[str, Any]:
    """The function behind a Provider-framework custom resource: ServiceToken -> onEvent
    framework function -> its USER_ON_EVENT_FUNCTION_ARN."""
    token = custom_resource["Properties"]["ServiceToken"]
    framework_id = token["Fn::GetAtt"][0]
    framework = template["Resources"][framework_id]
    user_arn = framework["Properties"]["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]
    return template["Resources"][user_arn["Fn::GetAtt"][0]]  # type: ignore[no-any-return]


def _bootstrap(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    found = _custom_resources_with_step(template, "roles")
    assert len(found) == 1, f"exactly one app-user bootstrap in the data stack, got {found}"
    return found[0], template["Resources"][found[0]]


def test_the_bootstrap_runs_the_migration_handler_against_the_new_instance(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    for env, (app, _) in by_mode.items():
        data = app.data.to_json()
        _, bootstrap = _bootstrap(data)
        # The resource that really creates the user: our migration handler, not a CDK helper
        # such as LogRetention.
        assert _user_function(data, bootstrap)["Properties"]["Handler"] == MIGRATE_HANDLER, env
        # ...pointed at this stack's instance or cluster writer endpoint (which therefore
        # exists before it runs).
        database_id, _ = _DATABASE[app.built.config.database.engine]
        assert bootstrap["Properties"]["DB_HOST"] == {
            "Fn::GetAtt": [database_id, "Endpoint.Address"]
        }, env


def test_the_proxy_target_group_waits_for_the_app_user_bootstrap(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    for env, (app, mode) in by_mode.items():
        data = app.data.to_json()
        bootstrap_id, _ = _bootstrap(data)
        groups = _of_type(data, "AWS::RDS::DBProxyTargetGroup")
        assert len(groups) == 1, env
        for logical_id, group in groups.items():
            assert bootstrap_id in _depends_on(group), f"{env}/{mode}: {logical_id}"


def test_the_rotation_schedule_waits_for_the_app_user_bootstrap(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    for env, (app, mode) in by_mode.items():
        data = app.data.to_json()
        bootstrap_id, _ = _bootstrap(data)
        schedules = _of_type(data, "AWS::SecretsManager::RotationSchedule")
        # Only secrets mode has an app-user secret to rotate.
        assert len(schedules) == (1 if mode == "secrets" else 0), f"{env}/{mode}"
        for logical_id, schedule in schedules.items():
            assert bootstrap_id in _depends_on(schedule), f"{env}/{mode}: {logical_id}"


def test_the_rotated_secret_carries_what_the_hosted_rotation_function_reads(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    """Hosted single-user rotation reads engine and host from the secret (aws_facts.
    HOSTED_ROTATION_SECRET_KEYS): the secret is attached to the instance, and the schedule is
    made on that attachment, so the keys are there before the first rotation."""
    for env, (app, mode) in by_mode.items():
        data = app.data.to_json()
        attachments = _of_type(data, "AWS::SecretsManager::SecretTargetAttachment")
        assert len(attachments) == (1 if mode == "secrets" else 0), f"{env}/{mode}"
        database_id, database_type = _DATABASE[app.built.config.database.engine]
        for attachment_id, attachment in attachments.items():
            assert attachment["Properties"]["TargetType"] == database_type, env
            assert attachment["Properties"]["TargetId"] == {"Ref": database_id}, env
            (schedule,) = _of_type(data, "AWS::SecretsManager::RotationSchedule").values()
            assert schedule["Properties"]["SecretId"] == {"Ref": attachment_id}, env


def test_the_schema_migration_runs_in_the_service_stack_before_the_app_functions(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    for env, (app, _) in by_mode.items():
        data, service = app.data.to_json(), app.service.to_json()
        assert _custom_resources_with_step(data, "schema") == [], env
        (schema_id,) = _custom_resources_with_step(service, "schema")
        functions = {
            k: r
            for k, r in _of_type(service, "AWS::Lambda::Function").items()
            if r["Properties"].get("Handler", "").startswith("orders.handlers.")
        }
        assert len(functions) == 2, env  # api and direct; the migration function is in data
        for logical_id, fn in functions.items():
            assert schema_id in _depends_on(fn), f"{env}: {logical_id}"


def test_nothing_in_the_data_stack_waits_on_the_service_stack(
    by_mode: dict[str, tuple[Synthesized, str]],
) -> None:
    """The data stack deploys first and alone: it imports nothing from the service stack."""
    for env, (app, _) in by_mode.items():
        assert "Fn::ImportValue" not in str(app.data.to_json()), env
