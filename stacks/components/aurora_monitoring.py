"""What an Aurora cluster adds to the monitoring: per-role proxy availability, replica lag,
RDS events on the alarm topic, and the writer and reader pools side by side."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from constructs import Construct

from stacks import metric_catalog as mc
from stacks.aws_facts import (
    AURORA_METRIC_ROLE_READER,
    RDS_EVENT_CATEGORIES,
    RDS_EVENTS_PRINCIPAL,
    RDS_PROXY_METRIC_TARGET_ROLE_READ_ONLY,
    RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE,
)
from stacks.components.monitoring import GT, LT, MISSING, AlarmSpec, Monitoring
from stacks.config import AppConfig

READ_WRITE = RDS_PROXY_METRIC_TARGET_ROLE_READ_WRITE.value
READ_ONLY = RDS_PROXY_METRIC_TARGET_ROLE_READ_ONLY.value


class AuroraMonitoring(Construct):
    """Aurora additions to `monitoring` (its topic, alarm destinations and dashboard).

    Creates: a READ_ONLY availability alarm (with a read-only endpoint; Monitoring already
    watches READWRITE), an AuroraReplicaLag alarm on the readers (DBClusterIdentifier +
    Role=READER, Maximum: the worst reader), RDS event subscriptions for the cluster and its
    instances (failover, failure, recovery, ...) to the alarm topic, with the topic and key
    policy statements RDS needs to publish there, and a dashboard row with the writer's and
    the readers' proxy pools side by side.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: Monitoring,
        proxy_name: str,
        cluster_identifier: str,
        instance_identifiers: list[str],
        config: AppConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self._monitoring, self._proxy_name = monitoring, proxy_name
        self._cluster_identifier = cluster_identifier
        self._read_only = config.proxy.read_only_endpoint
        self.alarms = [monitoring.add_alarm(spec) for spec in self._specs(config)]
        self._allow_rds_events()
        self.subscriptions = [
            rds.CfnEventSubscription(
                self,
                f"{'Cluster' if source == 'db-cluster' else 'Instance'}Events",
                sns_topic_arn=monitoring.topic.topic_arn,
                source_type=source,
                source_ids=[cluster_identifier] if source == "db-cluster" else instance_identifiers,
                event_categories=list(categories),
                enabled=True,
            )
            for source, categories in RDS_EVENT_CATEGORIES.value.items()
        ]
        monitoring.dashboard.add_widgets(*self._pools_row(config))
        if self.alarms:  # Monitoring's status widget was drawn before these alarms existed
            monitoring.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title="Aurora alarms", alarms=self.alarms, width=24, height=3
                )
            )

    def _role(self, name: str, role: str) -> cloudwatch.Metric:
        dims = mc.proxy_role_dimensions(self._proxy_name, role)
        return self._monitoring.metric(mc.RDS, name, dims)

    def _replica_lag(self) -> cloudwatch.Metric:
        dims = {"DBClusterIdentifier": self._cluster_identifier}
        dims["Role"] = AURORA_METRIC_ROLE_READER.value
        return self._monitoring.metric(mc.RDS, "AuroraReplicaLag", dims, "Maximum")

    def _specs(self, config: AppConfig) -> list[AlarmSpec]:
        mon = config.monitoring
        specs = []
        if config.database.readers:
            specs.append(
                AlarmSpec(
                    "DbReplicaLagHigh",
                    self._replica_lag(),
                    mon.replica_lag_ms_threshold,
                    mon.replica_lag_evaluation_periods,
                    GT,
                    f"The worst Aurora reader lags the writer by more than "
                    f"{mon.replica_lag_ms_threshold} ms: reads through the read-only endpoint "
                    "see older data (a miss falls back to the writer)",
                    MISSING,
                )
            )
        if self._read_only:
            specs.append(
                AlarmSpec(
                    "ProxyAvailabilityReadOnly",
                    self._role("AvailabilityPercentage", READ_ONLY),
                    mon.proxy_availability_percent,
                    mon.proxy_availability_evaluation_periods,
                    LT,
                    f"Proxy availability of the readers (TargetRole {READ_ONLY}) below "
                    f"{mon.proxy_availability_percent}%: reads fall back to the writer",
                    MISSING,
                )
            )
        return specs

    def _allow_rds_events(self) -> None:
        """RDS publishes its events as a service principal: the topic admits it for this
        account's clusters and instances, and the topic's key lets it encrypt."""
        stack, topic = Stack.of(self), self._monitoring.topic
        principal = iam.ServicePrincipal(RDS_EVENTS_PRINCIPAL.value)
        sources = [
            f"arn:{stack.partition}:rds:{stack.region}:{stack.account}:{kind}:*"
            for kind in ("cluster", "db")
        ]
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowRdsEventsToPublish",
                principals=[principal],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": sources},
                },
            )
        )
        self._monitoring.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowRdsEventsToUseTheKey",
                principals=[principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )

    def _pools_row(self, config: AppConfig) -> list[cloudwatch.IWidget]:
        roles = [("Writer", READ_WRITE)] + ([("Readers", READ_ONLY)] if self._read_only else [])
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title=f"{label} proxy pool (TargetRole {role})",
                left=[
                    self._role("DatabaseConnections", role).with_(label="DatabaseConnections"),
                    self._role("MaxDatabaseConnectionsAllowed", role).with_(label="Allowed"),
                ],
                width=8,
                height=6,
            )
            for label, role in roles
        ]
        if config.database.readers:
            widgets.append(
                cloudwatch.GraphWidget(
                    title="Replica lag, worst reader (ms)",
                    left=[self._replica_lag()],
                    left_annotations=[a.to_annotation() for a in self.alarms[:1]],
                    width=8,
                    height=6,
                )
            )
        return widgets
