"""Stateful stack: network, KMS key, PostgreSQL, the app-user bootstrap and RDS Proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Fn, RemovalPolicy, Stack
from constructs import Construct

from orders import contract
from stacks import outputs
from stacks.budget import data_summary
from stacks.components.aurora import AuroraDatabase
from stacks.components.bundling import lambda_code
from stacks.components.database import Database
from stacks.components.encryption import DataKey
from stacks.components.functions import RUNTIME
from stacks.components.logs import LogsKey
from stacks.components.migration import Migration
from stacks.components.network import Network
from stacks.components.proxy import ProxiedDatabase, Proxy
from stacks.config import AppConfig

# Stateful resources keep these logical IDs whatever the construct tree looks like: a refactor
# must never replace the database, its key, its VPC or the proxy endpoint.
STATEFUL_LOGICAL_IDS = {
    "key": "DataKey",
    "logs_key": "LogsKey",
    "vpc": "Vpc",
    "instance": "DatabaseInstance",
    "proxy": "DatabaseProxy",
    "cluster": "DatabaseCluster",
    "read_only_endpoint": "DatabaseProxyReadOnlyEndpoint",
}

# Aurora instances keep "DatabaseCluster" + their ClusterInstance id: DatabaseClusterWriter,
# DatabaseClusterReader1, ...


def _pin_logical_id(construct: Any, logical_id: str) -> None:
    child = construct.node.default_child
    assert isinstance(child, CfnResource)  # noqa: S101 - programming error if not
    child.override_logical_id(logical_id)


class DataStack(Stack):
    """Everything that holds data or addresses: replaced rarely, deployed first."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lambda_src: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=(
                f"{config.project.app_name} {config.env_name} data tier (VPC, KMS, PostgreSQL, "
                f"app-user bootstrap, RDS Proxy); {data_summary(config)}"
            ),
            **kwargs,
        )
        self._network_config = config.network
        removal = {"destroy": RemovalPolicy.DESTROY}.get(
            config.database.removal_policy, RemovalPolicy.RETAIN
        )
        self.encryption = DataKey(
            self, "Encryption", app_name=config.project.app_name, removal_policy=removal
        )
        # Retained with the flow logs it encrypts (and, like the data key, unless destroyable).
        self.logs = LogsKey(self, "Logs", removal_policy=removal)
        self.network = Network(
            self, "Network", config=config.network, logs_key=self.logs, removal_policy=removal
        )
        shape = AuroraDatabase if config.database.is_aurora else Database
        self.database: ProxiedDatabase = shape(
            self,
            "Database",
            vpc=self.network.vpc,
            subnets=self.network.data_subnets,
            key=self.encryption.key,
            config=config.database,
        )
        self.proxy = Proxy(
            self,
            "Proxy",
            vpc=self.network.vpc,
            subnets=self.network.data_subnets,
            database=self.database,
            key=self.encryption.key,
            config=config.proxy,
        )
        if self.proxy.app_user_secret is not None:
            self.network.allow_endpoint_from("secretsmanager", self.proxy.security_group)
            self.network.allow_endpoint_from("secretsmanager", self.proxy.rotation_security_group)
        self._build_bootstrap(config, lambda_src)

        self._pin_stateful_ids()
        self._keep_exports_of_earlier_service_stacks()  # names use the pinned logical IDs

        self._outputs()

    def _pin_stateful_ids(self) -> None:
        """STATEFUL_LOGICAL_IDS on the resources that hold data or addresses."""
        _pin_logical_id(self.encryption.key, STATEFUL_LOGICAL_IDS["key"])
        _pin_logical_id(self.logs.key, STATEFUL_LOGICAL_IDS["logs_key"])
        _pin_logical_id(self.network.vpc, STATEFUL_LOGICAL_IDS["vpc"])
        if isinstance(self.database, AuroraDatabase):
            _pin_logical_id(self.database.cluster, STATEFUL_LOGICAL_IDS["cluster"])
            for role_id, instance in self.database.instances.items():
                instance.override_logical_id(f"{STATEFUL_LOGICAL_IDS['cluster']}{role_id}")
        else:
            _pin_logical_id(self.database.instance, STATEFUL_LOGICAL_IDS["instance"])
        _pin_logical_id(self.proxy.proxy, STATEFUL_LOGICAL_IDS["proxy"])
        if self.proxy.read_only_endpoint is not None:  # an address the service stack imports
            _pin_logical_id(
                self.proxy.read_only_endpoint, STATEFUL_LOGICAL_IDS["read_only_endpoint"]
            )

    def _outputs(self) -> None:
        CfnOutput(self, outputs.PROXY_ENDPOINT, value=self.proxy.proxy.endpoint)
        CfnOutput(self, outputs.PROXY_NAME, value=self.proxy.proxy.db_proxy_name)
        if isinstance(self.database, AuroraDatabase):
            CfnOutput(self, outputs.DB_CLUSTER_IDENTIFIER, value=self.database.identifier)
        else:
            CfnOutput(self, outputs.DB_INSTANCE_IDENTIFIER, value=self.database.identifier)
        if self.proxy.read_only_endpoint is not None:
            CfnOutput(
                self,
                outputs.PROXY_READ_ONLY_ENDPOINT,
                value=self.proxy.read_only_endpoint.endpoint,
            )
        CfnOutput(
            self, outputs.MIGRATION_FUNCTION_NAME, value=self.migration.function.function_name
        )

    def _keep_exports_of_earlier_service_stacks(self) -> None:
        """Exports that a service stack deployed before the migration function moved here
        still imports. This stack deploys first, and CloudFormation refuses to delete an export
        that is in use, so they stay (under the names the automatic references gave them) until
        every environment's service stack has been redeployed; then delete this method and its
        test (tests/infra/test_upgrade.py)."""
        for value in (
            self.encryption.key.key_arn,
            self.database.admin_secret.secret_arn,
            self.database.security_group.security_group_id,
            *(
                group.security_group_id
                for group in self.network.endpoint_security_groups("secretsmanager")
            ),
        ):
            self.export_value(value)

    def _build_bootstrap(self, config: AppConfig, lambda_src: Path) -> None:
        """The migration function, and the custom resource that runs its roles step here."""
        self.migration = Migration(
            self,
            "Migration",
            vpc=self.network.vpc,
            subnets=self.network.app_subnets,
            logs_key=self.logs,
            code=lambda_code(lambda_src, "orders", config.functions.architecture, RUNTIME),
            lambda_src=lambda_src,
            db_host=self.database.writer_address,
            port=self.database.port,
            database_security_group=self.database.security_group,
            admin_secret=self.database.admin_secret,
            key=self.encryption.key,
            app_user_secret=self.proxy.app_user_secret,
            config=config,
        )
        for endpoint in ("secretsmanager", "xray"):
            self.network.allow_endpoint_from(endpoint, self.migration.function)
        self.bootstrap = self.migration.run_step(self, "AppUserBootstrap", contract.ROLES_STEP)
        self._order_first_deploy()

    def _order_first_deploy(self) -> None:
        """The app user exists before anything that logs in as it is created or updated.

        The proxy target group's Create and Update wait until every target is AVAILABLE (20
        minutes, then a rollback; aws_facts.PROXY_TARGET_GROUP_WAITS_FOR_HEALTH), and a target
        whose login user does not exist yet never is; a new rotation schedule rotates the
        app-user secret at once, as that user. CloudFormation runs resources in parallel unless
        ordered, and the bootstrap itself must not start before the security-group rules that
        let it reach PostgreSQL and the Secrets Manager endpoint exist.
        """
        for group in (
            *self.migration.function.connections.security_groups,
            self.database.security_group,
            *self.network.endpoint_security_groups("secretsmanager"),
            *self.network.endpoint_security_groups("xray"),
        ):
            self.bootstrap.node.add_dependency(group)
        for waiter in (self.proxy.target_group, self.proxy.rotation_schedule):
            if waiter is not None:
                waiter.node.add_dependency(self.bootstrap)

    @property
    def availability_zones(self) -> list[str]:
        """The configured AZ names, else `max_azs` of Fn::GetAZs (no account/region lookup).

        An environment-agnostic stack gets only two AZs from CDK by default; prod needs three.
        Fn::GetAZs is resolved at deploy time, but its order is not guaranteed and can change
        when AWS adds an AZ, which would move subnets: pin `network.availability_zones` for an
        environment you keep.
        """
        pinned = self._network_config.availability_zones
        if pinned is not None:
            return list(pinned)
        return [Fn.select(i, Fn.get_azs()) for i in range(self._network_config.max_azs)]
