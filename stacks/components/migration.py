"""The migration function and its custom resources (CDK Provider framework): app-role bootstrap
in the data stack, schema migrations in the service stack."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import CustomResource, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from orders import contract
from stacks.components.functions import powertools_environment, vpc_python_function
from stacks.components.logs import LogsKey, log_group
from stacks.components.nag import acknowledge, acknowledge_control
from stacks.config import AppConfig

# What re-runs the migration when it changes (besides the settings below): the whole function
# package and its pinned dependencies, not just the SQL. Every deploy that ships new function
# code first re-applies the (idempotent) migrations and role settings, and the app functions
# depend on it, so new code never runs against a schema or role it has not seen; a deploy that
# changes nothing else costs nothing.
MIGRATION_SOURCES = ("orders", "requirements.txt")
# Never part of the asset (stacks/components/bundling.py), so never part of the hash either.
_NOT_SHIPPED = ("__pycache__", ".mypy_cache", ".pytest_cache", ".DS_Store")


def _shipped(path: Path) -> bool:
    return not (
        any(part in _NOT_SHIPPED or part.endswith(".egg-info") for part in path.parts)
        or path.suffix == ".pyc"
    )


def source_hash(lambda_src: Path, paths: tuple[str, ...] = MIGRATION_SOURCES) -> str:
    """sha256 over the relative paths and bytes of the migration sources ("absent" parts too).

    Each path and each content is length-prefixed, so no two different file sets digest the
    same bytes.
    """
    digest = hashlib.sha256()
    for rel in paths:
        root = lambda_src / rel
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if not _shipped(path.relative_to(lambda_src)):
                continue
            name = path.relative_to(lambda_src).as_posix().encode()
            content = path.read_bytes() if path.is_file() else b"<absent>"
            for chunk in (name, content):
                digest.update(len(chunk).to_bytes(8, "big"))
                digest.update(chunk)
    return digest.hexdigest()


def role_settings(config: AppConfig) -> dict[str, str | int]:
    """The app-role settings the migration applies (environment variables of orders.contract)."""
    role = config.app_role
    return {
        contract.APP_DB_USER.name: config.proxy.app_db_user,
        contract.DB_AUTH_MODE.name: config.proxy.auth_mode,
        contract.APP_STATEMENT_TIMEOUT_MS.name: role.statement_timeout_ms,
        contract.APP_LOCK_TIMEOUT_MS.name: role.lock_timeout_ms,
        contract.APP_IDLE_IN_TRANSACTION_TIMEOUT_MS.name: role.idle_in_transaction_timeout_ms,
    }


class Migration(Construct):
    """Runs `orders.handlers.migrate.handler` for each custom resource made by `run_step`.

    Creates: the migration function (VPC, reserved concurrency 1, the only function with a
    direct security-group path to PostgreSQL, reads the RDS-managed admin secret) and a Provider
    framework (onEvent only, outside the VPC: it must reach S3 and the Lambda API), both logging
    to log groups encrypted with the stack's logs key. It lives in the data stack, next to the
    database, so that the data stack can bootstrap the app user (`orders.contract.ROLES_STEP`)
    before the proxy target group, which waits until it can log in as that user; the service
    stack runs the schema step through the same provider. Each custom resource's properties
    carry the step, a content hash of the migration sources, the target database's endpoint and
    (roles step) the app-role settings and the app-user secret, so a change to any of them
    re-runs that step (Update): new code, new role settings, a replaced secret or a replaced
    database.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        logs_key: LogsKey,
        code: lambda_.Code,
        lambda_src: Path,
        db_host: str,
        port: int,
        database_security_group: ec2.ISecurityGroup,
        admin_secret: secretsmanager.ISecret,
        key: kms.IKey,
        app_user_secret: secretsmanager.ISecret | None,
        config: AppConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self._resource_type = f"Custom::{config.project.service_name.capitalize()}Migration"
        self._source_hash = source_hash(lambda_src)
        self._settings = role_settings(config)
        # The database it migrates: a replaced instance must be bootstrapped and migrated too.
        self._target: dict[str, str | int] = {
            contract.DB_HOST.name: db_host,
            contract.DB_PORT.name: port,
            contract.DB_NAME.name: config.database.database_name,
        }
        if app_user_secret is not None:
            # Also a trigger of the roles step: a replaced secret holds a new password.
            self._settings[contract.APP_USER_SECRET_ARN.name] = app_user_secret.secret_arn
        environment: dict[str, str | int] = {
            **self._target,
            contract.DB_ADMIN_SECRET_ARN.name: admin_secret.secret_arn,
            contract.DB_CONNECT_TIMEOUT_S.name: config.functions.connect_timeout_s,
            **powertools_environment(contract.MIGRATE, config.project, config.functions),
            **self._settings,
        }
        self.function = vpc_python_function(
            self,
            "Function",
            description="Bootstraps the app role and applies schema migrations (custom resources)",
            function=contract.MIGRATE,
            code=code,
            vpc=vpc,
            subnets=subnets,
            logs_key=logs_key,
            config=config.functions,
            timeout_s=config.functions.migration_timeout_s,
            reserved_concurrency=config.functions.migration_reserved_concurrency,
            environment=environment,
        )
        self.function.connections.allow_to(
            database_security_group, ec2.Port.tcp(port), "migration to PostgreSQL (admin)"
        )
        self._grant_secrets(admin_secret, app_user_secret, key)
        self.provider = self._build_provider(logs_key, config.functions.log_retention_days)

    def run_step(self, scope: Construct, construct_id: str, step: str) -> CustomResource:
        """A custom resource in ``scope`` that runs ``step`` of orders.contract.MIGRATION_STEPS
        on Create and whenever its properties change; its properties are its triggers."""
        if step not in contract.MIGRATION_STEPS:
            raise ValueError(f"{step!r} is not one of {contract.MIGRATION_STEPS}")
        settings = self._settings if step == contract.ROLES_STEP else {}
        return CustomResource(
            scope,
            construct_id,
            service_token=self.provider.service_token,
            resource_type=self._resource_type,
            properties={
                contract.MIGRATION_STEP_PROPERTY: step,
                "SourceHash": self._source_hash,
                **contract.render({**settings, **self._target}),
            },
        )

    def _grant_secrets(
        self,
        admin_secret: secretsmanager.ISecret,
        app_user_secret: secretsmanager.ISecret | None,
        key: kms.IKey,
    ) -> None:
        # Explicit identity-policy grants: Secret.grant_read on the RDS-managed secret would edit
        # the CMK's key policy in the data stack and make it reference this stack (a cycle).
        secret_arns = [admin_secret.secret_arn]
        if app_user_secret is not None:
            secret_arns.append(app_user_secret.secret_arn)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=secret_arns,
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com"
                    }
                },
            )
        )

    def _build_provider(self, logs_key: LogsKey, log_retention_days: int) -> cr.Provider:
        provider_logs = log_group(
            self,
            "ProviderLogGroup",
            key=logs_key,
            retention_days=log_retention_days,
            retention_key="functions.log_retention_days",
            removal_policy=RemovalPolicy.DESTROY,
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=provider_logs,
        )
        on_event = provider.node.find_child("framework-onEvent")
        acknowledge_control(
            on_event,
            "CT.LAMBDA.PR.3",
            "The CDK Provider framework's onEvent function runs outside the VPC: it answers "
            "CloudFormation through a pre-signed S3 URL and invokes the migration function "
            "through the Lambda API, and the isolated subnets reach neither (no NAT, no S3 or "
            "Lambda endpoint), so inside them it would hang the deploy until CloudFormation "
            "times out; compensating control: it holds no network path to the database and no "
            "secret, only lambda:InvokeFunction on the migration function (in the VPC), and "
            "only CloudFormation invokes it.",
        )
        on_event_role = on_event.node.find_child("ServiceRole")
        acknowledge(
            on_event_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK Provider framework function: the managed policy only lets it write its own "
            "logs; compensating control: only CloudFormation invokes it (service token).",
        )
        fn_logical_id = Stack.of(self).get_logical_id(self.function.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            on_event_role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::<{fn_logical_id}.Arn>:*]",
            "lambda:InvokeFunction on the migration function's versions/aliases (ARN:*) is what "
            "the Provider framework generates; compensating control: scoped to that one function.",
        )
        return provider
