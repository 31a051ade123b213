"""Stateless stack: functions, HTTP API, the schema-migration custom resource, dashboard, alarms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from orders import contract
from stacks import outputs
from stacks.budget import no_queue_warnings
from stacks.ci_plan import CiTarget
from stacks.components.api import Api
from stacks.components.aurora import AuroraDatabase
from stacks.components.aurora_monitoring import AuroraMonitoring
from stacks.components.bundling import lambda_code
from stacks.components.functions import RUNTIME, Functions
from stacks.components.logs import LogsKey
from stacks.components.monitoring import Monitoring, Watched
from stacks.components.smoke_access import SmokeAccess, Smoked, SmokedCluster
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
        ci_target: CiTarget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=(
                f"{config.project.app_name} {config.env_name} service tier (Lambda, HTTP API, "
                "schema migration, alarms)"
            ),
            **kwargs,
        )
        # Declared first: grants made below (KMS, secrets) then land on this stack's side
        # instead of making the data stack reference service-stack roles.
        self.add_stack_dependency(data, "service tier runs on the data tier")
        # Its log groups go with the stack, and so does their key.
        self.logs = LogsKey(self, "Logs", removal_policy=RemovalPolicy.DESTROY)
        self._build_functions(config, data, lambda_src)
        self._order_deployment(data)
        self._build_monitoring(config, data, ci_target)
        self._outputs()

    def _build_monitoring(
        self, config: AppConfig, data: DataStack, ci_target: CiTarget | None
    ) -> None:
        aurora = data.database if isinstance(data.database, AuroraDatabase) else None
        instance = None if isinstance(data.database, AuroraDatabase) else data.database.instance
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            watched=Watched(
                proxy_name=data.proxy.proxy.db_proxy_name,
                database=instance,
                http_api=self.api.http_api,
                functions=[self.functions.api, self.functions.direct, data.migration.function],
                db_cluster_identifier=None if aurora is None else aurora.identifier,
            ),
            config=config,
        )
        if aurora is not None:
            self.aurora_monitoring = AuroraMonitoring(
                self,
                "AuroraMonitoring",
                monitoring=self.monitoring,
                proxy_name=data.proxy.proxy.db_proxy_name,
                cluster_identifier=aurora.identifier,
                instance_identifiers=[i.ref for i in aurora.instances.values()],
                config=config,
            )
        if ci_target is not None:  # cdk.json `ci` deploys this environment from GitHub Actions
            self.smoke_access = SmokeAccess(
                self,
                "SmokeAccess",
                name=ci_target.smoke_role,
                trusted_role=ci_target.deploy_role,
                smoked=Smoked(
                    data_stack_name=data.stack_name,
                    functions=[self.functions.direct, data.migration.function],
                    http_api=self.api.http_api,
                    alarms=list(self.monitoring.alarms.values()),
                    cluster=None
                    if aurora is None
                    else SmokedCluster(
                        cluster_arn=aurora.cluster.cluster_arn,
                        proxy_arn=data.proxy.proxy.db_proxy_arn,
                        target_group_arn=data.proxy.target_group.attr_target_group_arn,
                    ),
                ),
            )

    def _build_functions(self, config: AppConfig, data: DataStack, lambda_src: Path) -> None:
        network, database, proxy = data.network, data.database, data.proxy
        code = lambda_code(lambda_src, "orders", config.functions.architecture, RUNTIME)
        # The data stack's migration function, through its provider: pending SQL migrations.
        self.schema_migration = data.migration.run_step(
            self, "SchemaMigration", contract.SCHEMA_STEP
        )
        self.functions = Functions(
            self,
            "Functions",
            vpc=network.vpc,
            subnets=network.app_subnets,
            logs_key=self.logs,
            code=code,
            proxy=proxy.proxy,
            read_endpoint=(
                None if proxy.read_only_endpoint is None else proxy.read_only_endpoint.endpoint
            ),
            connect_policy=proxy.connect_policy,
            proxy_security_group=proxy.security_group,
            port=proxy.port,
            database_name=database.database_name,
            app_db_user=proxy.app_db_user,
            project=config.project,
            config=config.functions,
        )
        self.api = Api(
            self, "Api", handler=self.functions.api, logs_key=self.logs, config=config.api
        )
        for warning_id, text in no_queue_warnings(config).items():
            Annotations.of(self.functions).add_warning_v2(warning_id, text)

    def _order_deployment(self, data: DataStack) -> None:
        """Network paths first, then the schema migration, then the app functions."""
        for fn in (self.functions.api, self.functions.direct):
            data.network.allow_endpoint_from("xray", fn)
        # The schema exists before any app function is updated (the app user and its grants
        # already do: the data stack bootstraps them before the proxy).
        for fn in (self.functions.api, self.functions.direct):
            fn.node.add_dependency(self.schema_migration)

    def _outputs(self) -> None:
        CfnOutput(self, outputs.API_URL, value=self.api.url)
        CfnOutput(self, outputs.DIRECT_FUNCTION_NAME, value=self.functions.direct.function_name)
        CfnOutput(self, outputs.API_FUNCTION_NAME, value=self.functions.api.function_name)
        CfnOutput(self, outputs.ALARM_TOPIC_ARN, value=self.monitoring.topic.topic_arn)
        CfnOutput(
            self,
            outputs.DASHBOARD_URL,
            value=(
                f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                f"#dashboards:name={self.monitoring.dashboard.dashboard_name}"
            ),
        )
