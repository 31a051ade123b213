"""Stateless stack: functions, HTTP API, the migration custom resource, dashboard and alarms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from stacks import outputs
from stacks.components.api import Api
from stacks.components.bundling import lambda_code
from stacks.components.functions import RUNTIME, Functions
from stacks.components.migration import Migration
from stacks.components.monitoring import Monitoring, Watched
from stacks.config import AppConfig
from stacks.data_stack import DataStack


class ServiceStack(Stack):
    """Compute and API on top of the data stack; safe to destroy and redeploy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        data: DataStack,
        lambda_src: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=(
                f"{config.project.app_name} {config.env_name} service tier (Lambda, HTTP API, "
                "migration, alarms)"
            ),
            **kwargs,
        )
        # Declared first: grants made below (KMS, secrets) then land on this stack's side
        # instead of making the data stack reference service-stack roles.
        self.add_stack_dependency(data, "service tier runs on the data tier")
        self._build_functions(config, data, lambda_src)
        self._order_deployment(data)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            watched=Watched(
                proxy_name=data.proxy.proxy.db_proxy_name,
                db_instance_identifier=data.database.instance.instance_identifier,
                http_api_id=self.api.http_api.api_id,
                functions=[self.functions.api, self.functions.direct, self.migration.function],
            ),
            config=config,
        )
        self._outputs()

    def _build_functions(self, config: AppConfig, data: DataStack, lambda_src: Path) -> None:
        network, database, proxy = data.network, data.database, data.proxy
        code = lambda_code(lambda_src, "orders", config.functions.architecture, RUNTIME)

        self.migration = Migration(
            self,
            "Migration",
            vpc=network.vpc,
            subnets=network.app_subnets,
            code=code,
            lambda_src=lambda_src,
            db_host=database.instance.db_instance_endpoint_address,
            port=database.port,
            database_security_group=database.security_group,
            admin_secret=database.admin_secret,
            key=data.encryption.key,
            app_user_secret=proxy.app_user_secret,
            config=config,
        )
        self.functions = Functions(
            self,
            "Functions",
            vpc=network.vpc,
            subnets=network.app_subnets,
            code=code,
            proxy=proxy.proxy,
            connect_policy=proxy.connect_policy,
            proxy_security_group=proxy.security_group,
            port=proxy.port,
            database_name=database.database_name,
            app_db_user=proxy.app_db_user,
            project=config.project,
            config=config.functions,
        )
        self.api = Api(self, "Api", handler=self.functions.api, config=config.api)

    def _order_deployment(self, data: DataStack) -> None:
        """Network paths first, then the migration, then the app functions."""
        network = data.network
        network.allow_endpoint_from("secretsmanager", self.migration.function)
        for fn in (self.functions.api, self.functions.direct, self.migration.function):
            network.allow_endpoint_from("xray", fn)
        # CloudFormation creates resources in parallel unless told otherwise: the migration must
        # not run before the security-group rules that let it reach PostgreSQL and the Secrets
        # Manager endpoint exist (they live under its security group, so depend on that subtree).
        for group in self.migration.function.connections.security_groups:
            self.migration.resource.node.add_dependency(group)
        # The app user and schema exist before any app function is updated.
        for fn in (self.functions.api, self.functions.direct):
            fn.node.add_dependency(self.migration.resource)

    def _outputs(self) -> None:
        CfnOutput(self, outputs.API_URL, value=self.api.url)
        CfnOutput(self, outputs.DIRECT_FUNCTION_NAME, value=self.functions.direct.function_name)
        CfnOutput(self, outputs.API_FUNCTION_NAME, value=self.functions.api.function_name)
        CfnOutput(
            self, outputs.MIGRATION_FUNCTION_NAME, value=self.migration.function.function_name
        )
        CfnOutput(self, outputs.ALARM_TOPIC_ARN, value=self.monitoring.topic.topic_arn)
        CfnOutput(
            self,
            outputs.DASHBOARD_URL,
            value=(
                f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                f"#dashboards:name={self.monitoring.dashboard.dashboard_name}"
            ),
        )
