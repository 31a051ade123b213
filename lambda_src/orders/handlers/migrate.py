"""Custom resource (CDK Provider onEvent): run the named migration step on Create/Update, no-op
on Delete. The data stack's resource runs the roles step, the service stack's the schema step
(orders.contract.MIGRATION_STEP_PROPERTY)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders import contract, migration
from orders.errors import SettingsError
from orders.observability import logger
from orders.settings import MigrationSettings

PHYSICAL_ID_PREFIX = "orders"


def on_event(
    event: dict[str, Any], secrets: migration.SecretFetcher | None = None
) -> dict[str, Any]:
    """The handler's logic; ``secrets`` is injectable (local runs pass a dict lookup)."""
    request_type = event.get("RequestType") if isinstance(event, dict) else None
    if request_type == "Delete":
        # The schema and its data outlive the custom resource: deleting it must never fail a
        # stack deletion or a replacement, and must never drop data.
        physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID_PREFIX
        logger.info("Delete: nothing to do", extra={"physical_id": physical_id})
        return {"PhysicalResourceId": physical_id}
    if request_type not in ("Create", "Update"):
        raise migration.MigrationError(
            f"RequestType must be Create, Update or Delete, got {request_type!r}"
        )
    properties = event.get("ResourceProperties")
    step = (
        properties.get(contract.MIGRATION_STEP_PROPERTY) if isinstance(properties, dict) else None
    )
    if step not in contract.MIGRATION_STEPS:
        raise migration.MigrationError(
            f"ResourceProperties.{contract.MIGRATION_STEP_PROPERTY} must be one of "
            f"{', '.join(contract.MIGRATION_STEPS)}, got {step!r}"
        )
    try:
        settings = MigrationSettings.from_env()
    except SettingsError as exc:
        raise migration.MigrationError(f"migration function misconfigured: {exc}") from exc
    fetcher = secrets or migration.SecretsManagerFetcher(region=settings.region)
    result = migration.run(settings, fetcher, (step,))
    logger.info("migration finished", extra={"step": step, **result.as_data()})
    # Stable id: an Update keeps the same resource, so CloudFormation never sends a Delete for it.
    return {
        "PhysicalResourceId": f"{PHYSICAL_ID_PREFIX}-{step}-{settings.dbname}",
        "Data": result.as_data(),
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point ``orders.handlers.migrate.handler``; failures raise with a clear message."""
    logger.info(
        "custom resource event",
        extra={
            "request_type": event.get("RequestType"),
            "resource_properties": event.get("ResourceProperties"),
        },
    )
    try:
        return on_event(event)
    except migration.MigrationError:
        logger.exception("migration failed")
        raise
    except Exception as exc:
        logger.exception("migration failed unexpectedly")
        raise migration.MigrationError(f"migration failed: {type(exc).__name__}: {exc}") from exc
