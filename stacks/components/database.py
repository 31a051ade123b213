"""RDS PostgreSQL instance: encrypted, TLS-only, IAM auth, in isolated subnets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from stacks.aws_facts import RDS_POSTGRES_LOG_EXPORTS
from stacks.components._common import pi_retention, retention
from stacks.components.nag import acknowledge, acknowledge_control
from stacks.config import DatabaseConfig
from stacks.control_tower import MIN_BACKUP_RETENTION_DAYS

POSTGRES_PORT = 5432

INSIGHTS_MODES = {
    "standard": rds.DatabaseInsightsMode.STANDARD,
    "advanced": rds.DatabaseInsightsMode.ADVANCED,
}

REMOVAL_POLICIES = {
    "destroy": RemovalPolicy.DESTROY,
    "snapshot": RemovalPolicy.SNAPSHOT,
    "retain": RemovalPolicy.RETAIN,
}


def logging_parameters(config: DatabaseConfig) -> dict[str, str]:
    """Parameter group values of both shapes: TLS only, slow statements and connections logged."""
    return {
        "rds.force_ssl": "1",
        "log_min_duration_statement": str(config.log_min_duration_statement_ms),
        "log_connections": "1",
        "log_disconnections": "1",
        "log_lock_waits": "1",
        "log_temp_files": "0",
        "log_autovacuum_min_duration": "1000",
    }


class Database(Construct):
    """PostgreSQL for the orders service.

    Creates: a security group without egress, a parameter group (rds.force_ssl=1, statement and
    connection logging), and a DB instance with a pinned minor version, gp3 storage encrypted
    with the CMK, IAM database authentication, an RDS-managed master password (Secrets Manager,
    CMK, rotated by RDS), CloudWatch Database Insights in the configured mode over Performance
    Insights data (CMK), CloudWatch log exports with retention, Enhanced Monitoring with CDK's
    monitoring role when `monitoring_interval_s` > 0, no public access, auto minor upgrades off
    (the pin is the contract). Environment settings decide Multi-AZ, backups, deletion
    protection and the removal policy.
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
        engine = rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of(config.engine_version, major)
        )
        self.security_group = database_security_group(self, vpc, "PostgreSQL")
        self.removal_policy = REMOVAL_POLICIES[config.removal_policy]
        self.instance = self._instance(vpc, subnets, key, engine, config)
        self._acknowledge(config)
        acknowledge_controls(self.instance, config)
        acknowledge_log_retention_helper(self)
        self.admin_secret = managed_admin_secret(self.instance.secret)
        self.port = POSTGRES_PORT
        self.database_name = config.database_name

    def _parameter_group(
        self, engine: rds.IInstanceEngine, config: DatabaseConfig
    ) -> rds.ParameterGroup:
        return rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="TLS-only PostgreSQL with slow-statement and connection logging",
            parameters=logging_parameters(config),
        )

    # What the proxy and the migration need, named as the Aurora shape names them.
    @property
    def proxy_target(self) -> rds.ProxyTarget:
        return rds.ProxyTarget.from_instance(self.instance)

    @property
    def secret_target(self) -> secretsmanager.ISecretAttachmentTarget:
        return self.instance

    @property
    def login_resource_id(self) -> str:
        """The proxy's end-to-end IAM login: dbuser:db-<DbiResourceId>/<user>."""
        # Always a token for an instance this app creates (typed optional for imports).
        assert self.instance.instance_resource_id is not None  # noqa: S101
        return self.instance.instance_resource_id

    @property
    def writer_address(self) -> str:
        return self.instance.db_instance_endpoint_address

    @property
    def identifier(self) -> str:
        return self.instance.instance_identifier

    @property
    def writer_instance_identifier(self) -> str:
        return self.instance.instance_identifier

    @property
    def waits_for(self) -> list[IConstruct]:
        """What the proxy (and its target group) is created after."""
        return [self.instance]

    def _instance(
        self,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        engine: rds.IInstanceEngine,
        config: DatabaseConfig,
    ) -> rds.DatabaseInstance:
        return rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(config.instance_class),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            port=POSTGRES_PORT,
            database_name=config.database_name,
            credentials=rds.Credentials.from_username(config.admin_username, encryption_key=key),
            manage_master_user_password=True,
            parameter_group=self._parameter_group(engine, config),
            storage_type=rds.StorageType.GP3,
            allocated_storage=config.allocated_storage_gib,
            max_allocated_storage=config.max_allocated_storage_gib,
            storage_encrypted=True,
            storage_encryption_key=key,
            iam_authentication=True,
            publicly_accessible=False,
            multi_az=config.multi_az,
            auto_minor_version_upgrade=False,
            backup_retention=Duration.days(config.backup_retention_days),
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            removal_policy=self.removal_policy,
            # Performance Insights' own console ended on 2026-07-31: CloudWatch Database Insights
            # reads the same data. Set the mode explicitly (Standard is free only at the 7-day
            # retention; Advanced needs >= 465 days, validated in config: stacks/aws_facts.py).
            database_insights_mode=INSIGHTS_MODES[config.insights_mode],
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            performance_insight_retention=pi_retention(config.performance_insights_retention_days),
            cloudwatch_logs_exports=list(RDS_POSTGRES_LOG_EXPORTS.value),
            cloudwatch_logs_retention=retention(config.log_retention_days),
            monitoring_interval=(
                Duration.seconds(config.monitoring_interval_s)
                if config.monitoring_interval_s
                else None
            ),
        )

    def _acknowledge(self, config: DatabaseConfig) -> None:
        """cdk-nag findings this instance carries on purpose, each with its compensating control."""
        acknowledge_database(self.instance, config)
        if not config.multi_az:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS3",
                "Single-AZ only where config says so (dev, destroyable, cost); compensating "
                "controls: automated backups and prod profile is Multi-AZ (asserted in tests).",
            )
        if config.monitoring_interval_s:
            acknowledge_monitoring_role(self.instance)


def database_security_group(scope: Construct, vpc: ec2.IVpc, engine: str) -> ec2.SecurityGroup:
    """The database's group (both shapes): no egress; the proxy and migration add ingress."""
    return ec2.SecurityGroup(
        scope,
        "SecurityGroup",
        vpc=vpc,
        description=f"{engine}: ingress only from the proxy and the migration function",
        allow_all_outbound=False,
    )


def managed_admin_secret(secret: secretsmanager.ISecret | None) -> secretsmanager.ISecret:
    """The RDS-managed master secret (manage_master_user_password always creates one)."""
    if secret is None:  # pragma: no cover
        raise RuntimeError("RDS-managed master secret missing")
    return secret


def acknowledge_database(resource: IConstruct, config: DatabaseConfig) -> None:
    """cdk-nag findings an instance or a cluster carries on purpose (port, deletion protection),
    each with its compensating control."""
    acknowledge(
        resource,
        "AwsSolutions-RDS11",
        "PostgreSQL's default port is kept so clients and the proxy need no extra setting; "
        "compensating controls: no public access, isolated subnets, and a security group "
        "that admits only the proxy and the migration function; IAM auth and TLS required.",
    )
    if not config.deletion_protection:
        acknowledge(
            resource,
            "AwsSolutions-RDS10",
            "Deletion protection off only where config says so (dev must be destroyable); "
            "compensating control: prod profile enables it and keeps a snapshot (tests).",
        )


def acknowledge_log_retention_helper(scope: Construct) -> None:
    """The stack-level singleton CDK adds for `cloudwatch_logs_retention` (both shapes)."""
    stack = Stack.of(scope)
    for child in stack.node.children:
        if child.node.id.startswith("LogRetention") and isinstance(child, Construct):
            role = child.node.find_child("ServiceRole")
            acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's LogRetention helper (sets retention on the RDS log-export groups) "
                "only writes its own logs; compensating control: no other principal can "
                "invoke it and it runs only during deployments.",
            )
            acknowledge(
                role.node.find_child("DefaultPolicy"),
                "AwsSolutions-IAM5[Resource::*]",
                "logs:PutRetentionPolicy/DeleteRetentionPolicy on * because RDS names the "
                "log groups after the generated instance id; compensating control: the "
                "actions only change retention, and only deployments run the helper.",
            )
            acknowledge_control(
                child.node.find_child("Resource"),
                "CT.LAMBDA.PR.3",
                "CDK's LogRetention function (retention of the log groups RDS creates for "
                "its log exports) runs outside the VPC: it calls the CloudWatch Logs API "
                "during deployments and the isolated subnets have no path to it (no NAT, no "
                "logs endpoint); a log group declared in the template instead would race "
                "RDS, which creates those groups itself; compensating control: only "
                "CloudFormation invokes it, and its role may only set or delete retention.",
            )


def acknowledge_monitoring_role(resource: IConstruct) -> None:
    """CDK's Enhanced Monitoring role (an instance's, or each cluster instance's)."""
    acknowledge(
        resource.node.find_child("MonitoringRole"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonRDSEnhancedMonitoringRole]",
        "CDK's Enhanced Monitoring role with the AWS-maintained policy RDS documents for "
        "it (write the RDSOSMetrics log group); compensating control: the role trusts "
        "only monitoring.rds.amazonaws.com and holds nothing else.",
    )


PINNED_MINOR_REASON = (
    "Automatic minor upgrades stay off: `database.engine_version` pins the minor, so a deploy "
    "is reproducible and an upgrade is a reviewed change of that key (an automatic one would "
    "leave the template's version behind the running one); compensating control: the allowed "
    "minors are a reviewed list (stacks/config.py) and an upgrade runs through synth, the "
    "tests and a deploy like any change."
)
NO_ENHANCED_MONITORING_REASON = (
    "Enhanced Monitoring off only where config says so (`database.monitoring_interval_s` 0): "
    "its OS metrics are billed as CloudWatch Logs ingestion, a cost nobody reads in a "
    "short-lived environment; compensating control: CloudWatch's RDS metrics and Database "
    "Insights still run, and protected profiles turn it on (tests)."
)


def acknowledge_controls(resource: IConstruct, config: DatabaseConfig) -> None:
    """Control Tower controls an RDS for PostgreSQL instance does not meet on purpose
    (docs/infra.md)."""
    always = {
        "CT.RDS.PR.5": PINNED_MINOR_REASON,
        "CT.RDS.PR.20": "PostgreSQL keeps its default port: another port hides nothing from "
        "a client that can reach the instance, and every client would need the setting; "
        "compensating controls: no public access, isolated subnets, a security group that "
        "admits only the proxy and the migration function, IAM auth and TLS required.",
        "CT.RDS.PR.14": "Exports every log type RDS for PostgreSQL has: postgresql and "
        "upgrade, the two the rule asks for, and iam-db-auth-error (IAM authentication "
        "failures, added by RDS in 2025), which this rule version does not list for "
        "postgres and so rejects (ct-rds-pr-14.guard, POSTGRES_SUPPORTED_LOG_TYPES); "
        "compensating control: the required two are exported (tests).",
    }
    for control, reason in always.items():
        acknowledge_control(resource, control, reason)
    if config.monitoring_interval_s == 0:
        acknowledge_control(resource, "CT.RDS.PR.2", NO_ENHANCED_MONITORING_REASON)
    if not config.multi_az:
        acknowledge_control(
            resource,
            "CT.RDS.PR.1",
            "Single-AZ only where config says so (`database.multi_az` false): a standby "
            "doubles the instance cost of a destroyable environment; compensating control: "
            "automated backups, and protected profiles are Multi-AZ (tests).",
        )
    if config.backup_retention_days < MIN_BACKUP_RETENTION_DAYS:
        acknowledge_control(
            resource,
            "CT.RDS.PR.8",
            "Backups kept under a week only where config says so "
            "(`database.backup_retention_days`): backup storage a destroyable environment "
            "does not need; compensating control: backups are still taken, and protected "
            "profiles keep at least 7 days (tests).",
        )
    if not config.deletion_protection:
        acknowledge_control(
            resource,
            "CT.RDS.PR.13",
            "Deletion protection off only where config says so "
            "(`database.deletion_protection` false): the environment must be destroyable; "
            "compensating control: protected profiles enable it and keep a final snapshot "
            "(tests).",
        )
