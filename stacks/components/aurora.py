"""Aurora PostgreSQL cluster: writer and readers (provisioned or Serverless v2), encrypted,
TLS-only, IAM auth, in isolated subnets."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from stacks.budget import SERVERLESS
from stacks.components._common import pi_retention, retention
from stacks.components.database import (
    INSIGHTS_MODES,
    NO_ENHANCED_MONITORING_REASON,
    PINNED_MINOR_REASON,
    POSTGRES_PORT,
    REMOVAL_POLICIES,
    acknowledge_database,
    acknowledge_log_retention_helper,
    acknowledge_monitoring_role,
    database_security_group,
    logging_parameters,
    managed_admin_secret,
)
from stacks.components.nag import acknowledge_control
from stacks.config import DatabaseConfig

# Log types Aurora PostgreSQL exports (RDS for PostgreSQL's `upgrade` does not exist here).
AURORA_LOG_EXPORTS = ["postgresql", "iam-db-auth-error"]


class AuroraDatabase(Construct):
    """Aurora PostgreSQL for the orders service.

    Creates: a security group without egress, a cluster parameter group (rds.force_ssl=1,
    statement and connection logging), and a cluster with a pinned minor version, storage
    encrypted with the CMK, IAM database authentication, an RDS-managed master password
    (Secrets Manager, CMK, rotated by RDS), CloudWatch Database Insights in the configured mode
    (Performance Insights data under the CMK), log exports with retention, no public access,
    auto minor upgrades off. One writer and `reader_count` readers, each a Serverless v2
    instance (the cluster's ACU range) or a provisioned class; readers in promotion tier 1
    scale with the writer so a failover lands on an instance of the writer's size. Environment
    settings decide backups, deletion protection and the removal policy.

    Exposes what the proxy and the migration need, named as the instance shape names them
    (`proxy_target`, `login_resource_id`, `writer_address`, `waits_for`, `secret_target`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        config: DatabaseConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        major = config.engine_version.split(".")[0]
        engine = rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(config.engine_version, major)
        )
        self.security_group = database_security_group(self, vpc, "Aurora PostgreSQL")
        self.removal_policy = REMOVAL_POLICIES[config.removal_policy]
        self.cluster = self._cluster(vpc, subnets, key, engine, config)
        acknowledge_database(self.cluster, config)
        acknowledge_log_retention_helper(self)
        self.admin_secret = managed_admin_secret(self.cluster.secret)
        self.port = POSTGRES_PORT
        self.database_name = config.database_name
        self.proxy_target = rds.ProxyTarget.from_cluster(self.cluster)
        self.secret_target: secretsmanager.ISecretAttachmentTarget = self.cluster
        # The proxy's end-to-end IAM login: dbuser:cluster-<ClusterResourceId>/<user>.
        self.login_resource_id = self.cluster.cluster_resource_identifier
        self.writer_address = self.cluster.cluster_endpoint.hostname
        self.identifier = self.cluster.cluster_identifier
        # The proxy target group waits for every instance (aws-cdk#31304), not just the cluster.
        # By ClusterInstance id: Writer, Reader1, Reader2, ...
        self.instances: dict[str, rds.CfnDBInstance] = {
            child.node.scope.node.id: child  # type: ignore[union-attr]
            for child in self.cluster.node.find_all()
            if isinstance(child, rds.CfnDBInstance)
        }
        self.waits_for: list[IConstruct] = [self.cluster, *self.instances.values()]
        # The instance that is the writer at creation (a failover moves the role).
        self.writer_instance_identifier = self.instances["Writer"].ref
        self._acknowledge_controls(config)

    def _acknowledge_controls(self, config: DatabaseConfig) -> None:
        """Control Tower controls this cluster does not meet on purpose (docs/infra.md); the
        instance shape's reasons (stacks/components/database.py) hold for its instances."""
        if config.monitoring_interval_s:
            acknowledge_monitoring_role(self.cluster)
        for instance in self.instances.values():
            acknowledge_control(instance, "CT.RDS.PR.5", PINNED_MINOR_REASON)
            if config.monitoring_interval_s == 0:
                acknowledge_control(instance, "CT.RDS.PR.2", NO_ENHANCED_MONITORING_REASON)
        acknowledge_control(
            self.cluster,
            "CT.RDS.PR.25",
            "Exports every log type Aurora PostgreSQL has: postgresql, the one the rule asks "
            "for, and iam-db-auth-error (IAM authentication failures, added by RDS in 2025), "
            "which this rule version does not list for aurora-postgresql and so rejects "
            "(ct-rds-pr-25.guard, AURORA_POSTGRES_SUPPORTED_LOG_TYPES); compensating control: "
            "postgresql is exported (tests).",
        )
        if not config.deletion_protection:
            acknowledge_control(
                self.cluster,
                "CT.RDS.PR.3",
                "Deletion protection off only where config says so "
                "(`database.deletion_protection` false): the environment must be destroyable; "
                "compensating control: protected profiles enable it (tests).",
            )

    @staticmethod
    def _instance(
        instance_class: str,
        instance_id: str,
        *,
        key: kms.IKey,
        config: DatabaseConfig,
        scale_with_writer: bool | None = None,
    ) -> rds.IClusterInstance:
        """One cluster instance: Serverless v2 or a provisioned class; auto minor upgrades off,
        Performance Insights as on the cluster (Database Insights reads it)."""
        pi_days = pi_retention(config.performance_insights_retention_days)
        if instance_class == SERVERLESS:
            return rds.ClusterInstance.serverless_v2(
                instance_id,
                auto_minor_version_upgrade=False,
                publicly_accessible=False,
                enable_performance_insights=True,
                performance_insight_encryption_key=key,
                performance_insight_retention=pi_days,
                scale_with_writer=scale_with_writer,
            )
        return rds.ClusterInstance.provisioned(
            instance_id,
            instance_type=ec2.InstanceType(instance_class),
            auto_minor_version_upgrade=False,
            publicly_accessible=False,
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            performance_insight_retention=pi_days,
        )

    def _cluster(
        self,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        engine: rds.IClusterEngine,
        config: DatabaseConfig,
    ) -> rds.DatabaseCluster:
        writer = self._instance(config.instance_class, "Writer", key=key, config=config)
        readers = [
            self._instance(
                config.readers_class, f"Reader{n}", key=key, config=config, scale_with_writer=True
            )
            for n in range(1, config.readers + 1)
        ]
        return rds.DatabaseCluster(
            self,
            "Cluster",
            engine=engine,
            writer=writer,
            readers=readers,
            serverless_v2_min_capacity=config.serverless_min_acu,
            serverless_v2_max_capacity=config.serverless_max_acu,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            port=POSTGRES_PORT,
            default_database_name=config.database_name,
            credentials=rds.Credentials.from_username(config.admin_username, encryption_key=key),
            manage_master_user_password=True,
            parameter_group=rds.ParameterGroup(
                self,
                "Parameters",
                engine=engine,
                description="TLS-only Aurora PostgreSQL with slow-statement and connection logging",
                parameters=logging_parameters(config),
            ),
            storage_encrypted=True,
            storage_encryption_key=key,
            iam_authentication=True,
            backup=rds.BackupProps(retention=Duration.days(config.backup_retention_days)),
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            removal_policy=self.removal_policy,
            database_insights_mode=INSIGHTS_MODES[config.insights_mode],
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            performance_insight_retention=pi_retention(config.performance_insights_retention_days),
            cloudwatch_logs_exports=AURORA_LOG_EXPORTS,
            cloudwatch_logs_retention=retention(config.log_retention_days),
            monitoring_interval=(
                Duration.seconds(config.monitoring_interval_s)
                if config.monitoring_interval_s
                else None
            ),
        )
