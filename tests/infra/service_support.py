"""Bare stacks for the Lambda-tier constructs (the app functions of the service stack, the
migration function of the data stack), with stand-ins for the resources they are passed.

A stand-in needs no cdk-nag acknowledgment (a small VPC from the Network construct, security
groups, an imported secret and key), so the acknowledgments a bare stack carries are exactly
those of the construct under test. Lambda code is inline: nothing is bundled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from orders import contract
from stacks.app_builder import LAMBDA_SRC
from stacks.components.logs import LogsKey
from stacks.components.migration import Migration
from stacks.components.network import Network
from stacks.config import AppConfig
from stacks.loader import load
from tests.fixture_config import SMALL, fixture_context

SMALL_CONFIG = load(SMALL, fixture_context())
PORT = 5432
DB_HOST = "shop-db.c0ffee.eu-west-1.rds.amazonaws.com"
ADMIN_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-0123-AbCdEf"
APP_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:shop-app-GhIjKl"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0123abcd-45ef-6789-abcd-0123456789ab"
CODE = lambda_.Code.from_inline("def handler(event, context):\n    return event\n")


def bare_stack(name: str) -> cdk.Stack:
    """An environment-agnostic stack in its own app, under cdk-nag (raises on synth)."""
    app = cdk.App()
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return cdk.Stack(app, name)


def logs_key(stack: cdk.Stack) -> LogsKey:
    """The stack's logs key, created on first use (every stack has one, `Logs`)."""
    existing = stack.node.try_find_child("Logs")
    if isinstance(existing, LogsKey):
        return existing
    return LogsKey(stack, "Logs", removal_policy=RemovalPolicy.DESTROY)


def small_network(stack: cdk.Stack) -> Network:
    """The fixture's two-AZ isolated VPC (it needs no acknowledgment)."""
    return Network(
        stack,
        "Network",
        config=SMALL_CONFIG.network,
        logs_key=logs_key(stack),
        removal_policy=RemovalPolicy.DESTROY,
    )


def logical_id(construct: IConstruct) -> str:
    """The logical ID of a construct's CloudFormation resource (or of the resource itself)."""
    element = construct.node.default_child or construct
    return cdk.Stack.of(construct).get_logical_id(element)  # type: ignore[arg-type]


def acknowledgments(stack: cdk.Stack) -> dict[tuple[str, str], str]:
    """(construct path below the stack, cdk-nag rule) -> reason, for every acknowledgment."""
    found: dict[tuple[str, str], str] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for rule, reason in entry.data.items():
                if rule.startswith("Annotation::AwsSolutions-"):  # not CDK's own ones
                    path = construct.node.path.partition("/")[2]
                    found[(path, rule.removeprefix("Annotation::"))] = reason
    return found


# The custom resource of each step, by the construct id the stacks give it (data stack: roles,
# service stack: schema); a bare stack holds both.
STEP_RESOURCES = {contract.ROLES_STEP: "AppUserBootstrap", contract.SCHEMA_STEP: "SchemaMigration"}


@dataclass(frozen=True)
class MigrationBuilt:
    config: AppConfig
    stack: cdk.Stack
    migration: Migration
    resources: dict[str, cdk.CustomResource]  # by step (orders.contract.MIGRATION_STEPS)
    database_sg: str
    endpoint_sg: str

    @cached_property
    def template(self) -> Template:
        # Synthesizes the app: any unacknowledged cdk-nag finding raises here.
        return Template.from_stack(self.stack)

    def custom_resource(self, step: str) -> dict[str, Any]:
        """The template resource of `step`'s custom resource."""
        resource: dict[str, Any] = self.template.to_json()["Resources"][
            logical_id(self.resources[step])
        ]
        return resource

    def trigger(self, step: str) -> dict[str, Any]:
        """A custom resource's properties but its ServiceToken: what an Update depends on."""
        props = self.custom_resource(step)["Properties"]
        return {k: v for k, v in props.items() if k != "ServiceToken"}

    @property
    def triggers(self) -> dict[str, dict[str, Any]]:
        return {step: self.trigger(step) for step in self.resources}


def build_migration(
    name: str,
    config: AppConfig,
    *,
    lambda_src: Path = LAMBDA_SRC,
    db_host: str = DB_HOST,
    steps: dict[str, str] = STEP_RESOURCES,
) -> MigrationBuilt:
    """The Migration construct as the data stack wires it, in a bare stack, with the custom
    resource of each step (the roles step's as in the data stack, the schema step's as in the
    service stack; here both in the one stack)."""
    stack = bare_stack(name)
    network = small_network(stack)
    database_sg = ec2.SecurityGroup(stack, "DatabaseSg", vpc=network.vpc, allow_all_outbound=False)
    app_secret = None
    if config.proxy.auth_mode == "secrets":
        app_secret = secretsmanager.Secret.from_secret_complete_arn(
            stack, "AppSecret", APP_SECRET_ARN
        )
    migration = Migration(
        stack,
        "Migration",
        vpc=network.vpc,
        subnets=network.app_subnets,
        logs_key=logs_key(stack),
        code=CODE,
        lambda_src=lambda_src,
        db_host=db_host,
        port=PORT,
        database_security_group=database_sg,
        admin_secret=secretsmanager.Secret.from_secret_complete_arn(
            stack, "AdminSecret", ADMIN_SECRET_ARN
        ),
        key=kms.Key.from_key_arn(stack, "Key", KEY_ARN),
        app_user_secret=app_secret,
        config=config,
    )
    # What the data stack grants it: its only way to Secrets Manager without NAT.
    for endpoint_name in ("secretsmanager", "xray"):
        network.allow_endpoint_from(endpoint_name, migration.function)
    (endpoint,) = network.endpoint_security_groups("secretsmanager")
    resources = {
        step: migration.run_step(stack, construct_id, step) for step, construct_id in steps.items()
    }
    return MigrationBuilt(
        config, stack, migration, resources, logical_id(database_sg), logical_id(endpoint)
    )
