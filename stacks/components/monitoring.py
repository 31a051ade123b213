"""CloudWatch dashboard and alarms for Lambda -> RDS Proxy -> PostgreSQL, notifying an SNS topic."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import MonitoringConfig

__all__ = ["GIB", "AlarmThresholds", "Monitoring", "MonitoringConfig", "derive_thresholds"]

GIB = 1024**3


@dataclass(frozen=True)
class AlarmThresholds:
    """Absolute alarm thresholds in CloudWatch units, derived once from config and budget."""

    alarm_email: str | None
    period: Duration
    max_connections: int
    db_connections: int
    db_connections_evaluation_periods: int
    proxy_ceiling: int
    pool_saturation: int
    pool_saturation_evaluation_periods: int
    pinned_connections: int
    pinned_evaluation_periods: int
    borrow_latency_us: int
    borrow_latency_evaluation_periods: int
    proxy_availability_percent: float
    proxy_availability_evaluation_periods: int
    lambda_throttles: int
    lambda_errors: int
    lambda_evaluation_periods: int
    db_cpu_percent: int
    db_cpu_evaluation_periods: int
    free_storage_bytes: int
    free_storage_evaluation_periods: int


def derive_thresholds(
    config: MonitoringConfig, *, max_connections: int, proxy_ceiling: int
) -> AlarmThresholds:
    """Absolute numbers for a database with `max_connections` behind a proxy capped at
    `proxy_ceiling` server connections (both from stacks.budget.connection_budget)."""
    if max_connections < 1:
        raise ValueError(f"max_connections={max_connections!r} is invalid (allowed: >= 1)")
    if not 1 <= proxy_ceiling <= max_connections:
        raise ValueError(
            f"proxy_ceiling={proxy_ceiling!r} is invalid (allowed: 1..max_connections "
            f"= {max_connections})"
        )
    return AlarmThresholds(
        alarm_email=config.alarm_email,
        period=Duration.seconds(config.period_seconds),
        max_connections=max_connections,
        # floor: alarm at or before the configured share, never after it
        db_connections=max(
            1, math.floor(max_connections * config.db_connections_alarm_percent / 100)
        ),
        db_connections_evaluation_periods=config.db_connections_evaluation_periods,
        proxy_ceiling=proxy_ceiling,
        # ceil: a pool at 90 % of 158 is 143 connections in use, not 142
        pool_saturation=max(1, math.ceil(proxy_ceiling * config.pool_saturation_percent / 100)),
        pool_saturation_evaluation_periods=config.pool_saturation_evaluation_periods,
        pinned_connections=config.pinned_connections_threshold,
        pinned_evaluation_periods=config.pinned_evaluation_periods,
        # the proxy reports borrow latency in microseconds
        borrow_latency_us=config.borrow_latency_ms_threshold * 1000,
        borrow_latency_evaluation_periods=config.borrow_latency_evaluation_periods,
        proxy_availability_percent=config.proxy_availability_percent,
        proxy_availability_evaluation_periods=config.proxy_availability_evaluation_periods,
        lambda_throttles=config.lambda_throttles_threshold,
        lambda_errors=config.lambda_errors_threshold,
        lambda_evaluation_periods=config.lambda_evaluation_periods,
        db_cpu_percent=config.db_cpu_percent,
        db_cpu_evaluation_periods=config.db_cpu_evaluation_periods,
        free_storage_bytes=int(config.free_storage_gib * GIB),
        free_storage_evaluation_periods=config.free_storage_evaluation_periods,
    )


def _function_label(fn: lambda_.IFunction) -> str:
    """Stable, readable id from the function's construct path below its stack.

    "Functions/Api" -> "FunctionsApi", "Migration/Function" -> "MigrationFunction".
    """
    below_stack = fn.node.path.removeprefix(Stack.of(fn).node.path).strip("/")
    return re.sub(r"[^A-Za-z0-9]", "", below_stack)


def _labelled(metric: cloudwatch.IMetric) -> cloudwatch.IMetric:
    """Tell the proxy's DatabaseConnections from the instance's on the dashboard.

    Labels stay off the alarm metrics: a labelled metric turns an alarm into a metric-math alarm.
    """
    if not isinstance(metric, cloudwatch.Metric) or metric.label is not None:
        return metric
    dimensions = metric.dimensions or {}
    if "ProxyName" in dimensions:
        return metric.with_(label=f"Proxy {metric.metric_name}")
    if "DBInstanceIdentifier" in dimensions:
        return metric.with_(label=f"DB {metric.metric_name}")
    return metric


class Monitoring(Construct):
    """Dashboard and alarms for the function tier, the proxy and the database.

    Creates:
    - `topic`: SNS topic for alarm notifications, encrypted with `key` (a rotating CMK whose policy
      lets CloudWatch alarms publish), TLS-only (topic policy denies aws:SecureTransport=false),
      publishable by CloudWatch alarms of this account only; optional e-mail subscription.
    - `alarms`: DB connections share of max_connections, sustained session pinning, borrow latency,
      proxy availability, per-function throttles and errors, DB CPU and free storage.
    - `dashboard`: concurrency next to client and server connections (the burst check), proxy pool
      health, latencies, database resources, alarm status.
    Every alarm notifies `topic` (alarm and OK transitions).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        proxy_name: str,
        db_instance_identifier: str,
        functions: Sequence[lambda_.IFunction],
        thresholds: AlarmThresholds,
    ) -> None:
        super().__init__(scope, construct_id)
        if not functions:
            raise ValueError("Monitoring needs at least one function (functions=[])")
        names = [_function_label(fn) for fn in functions]
        if len(set(names)) != len(names):
            raise ValueError(f"Monitoring functions need distinct construct paths, got {names}")
        self._period = thresholds.period
        self._proxy_name = proxy_name
        self._db_instance_identifier = db_instance_identifier
        stack = Stack.of(self)

        self.key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the alarm notification topic",
            enable_key_rotation=True,
            # Nothing is stored under this key once a notification is delivered.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets the service use it.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(self, "AlarmTopic", master_key=self.key, enforce_ssl=True)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch", resource="alarm", resource_name="*"
                        )
                    },
                },
            )
        )
        if thresholds.alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(thresholds.alarm_email))

        # --- metrics -------------------------------------------------------------------------
        proxy_client_connections = self._proxy("ClientConnections", "Maximum")
        proxy_db_connections = self._proxy("DatabaseConnections", "Maximum")
        proxy_max_allowed = self._proxy("MaxDatabaseConnectionsAllowed", "Maximum")
        proxy_pinned = self._proxy("DatabaseConnectionsCurrentlySessionPinned", "Maximum")
        proxy_borrow_latency = self._proxy("DatabaseConnectionsBorrowLatency", "Average")
        proxy_query_latency = self._proxy("QueryDatabaseResponseLatency", "Average")
        proxy_availability = self._proxy("AvailabilityPercentage", "Minimum")
        db_connections = self._db("DatabaseConnections", "Maximum")
        db_cpu = self._db("CPUUtilization", "Average")
        db_freeable_memory = self._db("FreeableMemory", "Minimum")
        db_free_storage = self._db("FreeStorageSpace", "Minimum")

        # --- alarms --------------------------------------------------------------------------
        t = thresholds
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        lt = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "DbConnectionsHigh",
            db_connections,
            threshold=t.db_connections,
            periods=t.db_connections_evaluation_periods,
            comparison=gt,
            description=(
                f"Database connections above {t.db_connections} of max_connections="
                f"{t.max_connections} (the proxy alone stops at {t.proxy_ceiling}): something "
                "besides the proxy is eating the admin headroom; clients are about to be refused"
            ),
        )
        self._alarm(
            "ProxyPoolSaturated",
            proxy_db_connections,
            threshold=t.pool_saturation,
            periods=t.pool_saturation_evaluation_periods,
            comparison=gte,
            description=(
                f"Proxy server connections at or above {t.pool_saturation} of its ceiling "
                f"{t.proxy_ceiling} for {t.pool_saturation_evaluation_periods} periods: "
                "requests will queue for a connection (borrow timeout -> 503s); raise "
                "max_connections_percent, scale the instance or cut reserved concurrency"
            ),
        )
        self._alarm(
            "ProxySessionPinning",
            proxy_pinned,
            threshold=t.pinned_connections,
            periods=t.pinned_evaluation_periods,
            comparison=gt,
            description=(
                f"More than {t.pinned_connections} session-pinned server connections for "
                f"{t.pinned_evaluation_periods} periods: multiplexing is lost (SET, PREPARE, "
                "temp tables, advisory locks?)"
            ),
        )
        self._alarm(
            "ProxyBorrowLatency",
            proxy_borrow_latency,
            threshold=t.borrow_latency_us,
            periods=t.borrow_latency_evaluation_periods,
            comparison=gt,
            description=(
                f"Average connection borrow latency above {t.borrow_latency_us} us: "
                "the pool is exhausted or the database is slow"
            ),
        )
        self._alarm(
            "ProxyAvailability",
            proxy_availability,
            threshold=t.proxy_availability_percent,
            periods=t.proxy_availability_evaluation_periods,
            comparison=lt,
            description=f"Proxy availability below {t.proxy_availability_percent}%",
            # A proxy that stops reporting is not healthy.
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        self._alarm(
            "DbCpuHigh",
            db_cpu,
            threshold=t.db_cpu_percent,
            periods=t.db_cpu_evaluation_periods,
            comparison=gt,
            description=f"Database CPU above {t.db_cpu_percent}%",
        )
        self._alarm(
            "DbFreeStorageLow",
            db_free_storage,
            threshold=t.free_storage_bytes,
            periods=t.free_storage_evaluation_periods,
            comparison=lt,
            description=f"Database free storage below {t.free_storage_bytes} bytes",
        )
        for fn, label in zip(functions, names, strict=True):
            self._alarm(
                f"{label}Throttles",
                fn.metric_throttles(period=self._period, statistic="Sum"),
                threshold=t.lambda_throttles,
                periods=t.lambda_evaluation_periods,
                comparison=gte,
                description=(
                    f"{label}: {t.lambda_throttles}+ throttled invocations per period "
                    "(reserved concurrency reached)"
                ),
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self._alarm(
                f"{label}Errors",
                fn.metric_errors(period=self._period, statistic="Sum"),
                threshold=t.lambda_errors,
                periods=t.lambda_evaluation_periods,
                comparison=gte,
                description=f"{label}: {t.lambda_errors}+ failed invocations per period",
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        # --- dashboard -----------------------------------------------------------------------
        concurrency = [
            fn.metric(
                "ConcurrentExecutions",
                period=self._period,
                statistic="Maximum",
                label=f"{label} ConcurrentExecutions",
            )
            for fn, label in zip(functions, names, strict=True)
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "## Lambda -> RDS Proxy -> PostgreSQL\n"
                    "Function concurrency may grow with load; the proxy's DatabaseConnections "
                    "must stay flat below its ceiling. If DatabaseConnections follow "
                    "ConcurrentExecutions, connections are not being multiplexed."
                ),
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            self._graph(
                "Concurrency vs connections",
                left=concurrency,
                right=[proxy_client_connections, proxy_db_connections],
                width=12,
            ),
            self._graph(
                "Proxy server connections vs ceiling",
                left=[proxy_db_connections, proxy_max_allowed, proxy_pinned],
                annotations=[self.alarms["ProxyPoolSaturated"]],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            self._graph("Proxy client connections", left=[proxy_client_connections]),
            self._graph(
                "Session-pinned connections",
                left=[proxy_pinned],
                annotations=[self.alarms["ProxySessionPinning"]],
            ),
            self._graph(
                "Proxy availability (%)",
                left=[proxy_availability],
                annotations=[self.alarms["ProxyAvailability"]],
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Borrow latency (us)",
                left=[proxy_borrow_latency],
                annotations=[self.alarms["ProxyBorrowLatency"]],
            ),
            self._graph("Query response latency (us)", left=[proxy_query_latency]),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=8, height=6
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Lambda throttles",
                left=[
                    fn.metric_throttles(period=self._period, statistic="Sum") for fn in functions
                ],
            ),
            self._graph(
                "Lambda errors",
                left=[fn.metric_errors(period=self._period, statistic="Sum") for fn in functions],
            ),
            self._graph(
                "Lambda duration p99 (ms)",
                left=[fn.metric_duration(period=self._period, statistic="p99") for fn in functions],
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "DB connections vs max_connections",
                left=[db_connections],
                annotations=[self.alarms["DbConnectionsHigh"]],
                extra_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=t.max_connections, label="max_connections", color="#d62728"
                    )
                ],
                width=6,
            ),
            self._graph(
                "DB CPU (%)", left=[db_cpu], annotations=[self.alarms["DbCpuHigh"]], width=6
            ),
            self._graph("DB freeable memory (bytes)", left=[db_freeable_memory], width=6),
            self._graph(
                "DB free storage (bytes)",
                left=[db_free_storage],
                annotations=[self.alarms["DbFreeStorageLow"]],
                width=6,
            ),
        )

    def _proxy(self, name: str, statistic: str) -> cloudwatch.Metric:
        # The DatabaseProxy L2 has no metric helpers.
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=name,
            dimensions_map={"ProxyName": self._proxy_name},
            statistic=statistic,
            period=self._period,
        )

    def _db(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=name,
            dimensions_map={"DBInstanceIdentifier": self._db_instance_identifier},
            statistic=statistic,
            period=self._period,
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        periods: int,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.MISSING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[construct_id] = alarm

    def _graph(
        self,
        title: str,
        *,
        left: Sequence[cloudwatch.IMetric],
        right: Sequence[cloudwatch.IMetric] = (),
        annotations: Sequence[cloudwatch.Alarm] = (),
        extra_annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
        width: int = 8,
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=[_labelled(m) for m in left],
            right=[_labelled(m) for m in right],
            left_annotations=[a.to_annotation() for a in annotations] + list(extra_annotations),
            period=self._period,
            width=width,
            height=6,
        )
