"""CloudWatch dashboard and alarms for Lambda -> RDS Proxy -> PostgreSQL, notifying SNS."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from orders import contract
from stacks import metric_catalog as mc
from stacks.aws_facts import ALARM_ARN_FORMAT, AURORA_METRIC_ROLE_WRITER
from stacks.budget import connection_budget
from stacks.components.encryption import restrict_grants_to_aws_services
from stacks.config import AppConfig, MonitoringConfig

GIB = 1024**3
MAX = cloudwatch.Stats.MAXIMUM
MIN = cloudwatch.Stats.MINIMUM
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
MISSING = cloudwatch.TreatMissingData.MISSING
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING


@dataclass(frozen=True)
class AlarmThresholds:
    """Absolute alarm thresholds in CloudWatch units, derived once from config and budget."""

    max_connections: int
    db_connections: int
    proxy_ceiling: int
    borrow_latency_us: int
    free_storage_bytes: int


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
        max_connections=max_connections,
        # floor: alarm at or before the configured share, never after it
        db_connections=max(
            1, math.floor(max_connections * config.db_connections_alarm_percent / 100)
        ),
        proxy_ceiling=proxy_ceiling,
        # the proxy reports borrow latency in microseconds
        borrow_latency_us=config.borrow_latency_ms_threshold * 1000,
        free_storage_bytes=int(config.free_storage_gib * GIB),
    )


@dataclass(frozen=True)
class AlarmSpec:
    """One row of the alarm table."""

    id: str
    metric: cloudwatch.IMetric
    threshold: float
    periods: int
    comparison: cloudwatch.ComparisonOperator
    description: str
    missing: cloudwatch.TreatMissingData = MISSING


@dataclass(frozen=True)
class Watched:
    """What the construct watches. The database, the API and the functions are read through
    their own `metric_*` helpers; CDK's DatabaseProxy has none, so the proxy is watched by its
    name (a token is fine)."""

    proxy_name: str
    database: rds.IDatabaseInstance | None  # None for Aurora (db_cluster_identifier)
    http_api: apigwv2.IHttpApi
    functions: Sequence[lambda_.IFunction]
    # Aurora: the writer is read by DBClusterIdentifier + Role (it moves on a failover), and
    # there is no FreeStorageSpace; stacks/components/aurora_monitoring.py adds the rest.
    db_cluster_identifier: str | None = None


def function_label(fn: lambda_.IFunction) -> str:
    """Stable, readable id from the function's construct path below its stack.

    "Functions/Api" -> "FunctionsApi", "Migration/Function" -> "MigrationFunction".
    """
    below_stack = fn.node.path.removeprefix(Stack.of(fn).node.path).strip("/")
    return re.sub(r"[^A-Za-z0-9]", "", below_stack)


class Monitoring(Construct):
    """Dashboard and alarms for the function tier, the proxy and the database.

    Creates:
    - `topic`: SNS topic for alarm notifications, encrypted with `key` (a rotating CMK whose policy
      lets CloudWatch use it, as alarms need for an encrypted topic), TLS-only, publishable only
      by CloudWatch alarms of this account and region (aws:SourceArn ArnLike the alarm ARN
      format, aws:SourceAccount); e-mail subscription when `alarm_email` is set. Alarms also
      notify `alarm_topic_arn` (an existing topic: chat, paging) when it is set.
    - `alarms`: one row per alarm in `_alarm_specs` (DB connections, proxy pool saturation as
      Sum/Sum metric math, pinning, borrow latency, availability, DB CPU and storage, API 5xx,
      handled server errors, per-function throttles and errors). The database, API and
      function metrics are the constructs' own (`metric_*`, `metric(...)`); the proxy metrics
      and the functions' EMF metrics, which no construct offers, are built from
      stacks/metric_catalog.py. Every metric is checked against that catalog at synth.
    - `dashboard`: concurrency next to client and server connections (the burst check), proxy
      pool health, latencies, errors, database resources, alarm status.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, watched: Watched, config: AppConfig
    ) -> None:
        super().__init__(scope, construct_id)
        if not watched.functions:
            raise ValueError("Monitoring needs at least one function (functions=[])")
        self._labels = [function_label(fn) for fn in watched.functions]
        if len(set(self._labels)) != len(self._labels):
            raise ValueError(f"Monitoring functions need distinct construct paths: {self._labels}")
        self._watched = watched
        self._config = config.monitoring
        self._namespace = config.project.metrics_namespace
        self._service = config.project.service_name
        self._period = Duration.seconds(config.monitoring.period_seconds)
        budget = connection_budget(config)
        self.thresholds = derive_thresholds(
            config.monitoring,
            max_connections=budget.max_connections,
            proxy_ceiling=budget.proxy_ceiling,
        )
        self.topic = self._build_topic()
        self._actions = [cloudwatch_actions.SnsAction(self.topic)]
        if self._config.alarm_topic_arn is not None:
            external = sns.Topic.from_topic_arn(self, "ExternalTopic", self._config.alarm_topic_arn)
            self._actions.append(cloudwatch_actions.SnsAction(external))
        missing = self._config.missing_destination(config.env_name)
        if missing is not None:
            Annotations.of(self).add_warning_v2("monitoring:noAlarmDestination", missing)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in self._alarm_specs():
            self._add_alarm(spec)
        self.dashboard = self._build_dashboard()

    # --- metrics -------------------------------------------------------------------------------
    # The constructs' own helpers where CDK has them (the dimension is the construct's name or
    # id: a Ref, or an Fn::ImportValue for a resource of the data stack); the rest built from
    # the catalog. Either way at this construct's period and checked against the catalog.

    def _checked(self, metric: cloudwatch.Metric) -> cloudwatch.Metric:
        """A construct's own metric, refused (CatalogError) if AWS does not publish it so."""
        mc.check(
            metric.namespace,
            metric.metric_name,
            metric.dimensions or {},
            metric.statistic,
            service_namespace=self._namespace,
        )
        return metric

    def _hand_built(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        statistic: str | None = None,
    ) -> cloudwatch.Metric:
        """A metric no construct offers, with the catalog's statistic unless one is given."""
        ref = mc.metric(namespace, name, dimensions, statistic, service_namespace=self._namespace)
        return cloudwatch.Metric(
            namespace=ref.namespace,
            metric_name=ref.name,
            dimensions_map=dict(ref.dimensions),
            statistic=ref.statistic,
            period=self._period,
        )

    def _proxy(self, name: str) -> cloudwatch.Metric:
        return self._hand_built(mc.RDS, name, mc.proxy_dimensions(self._watched.proxy_name))

    def metric(
        self, namespace: str, name: str, dimensions: dict[str, str], statistic: str | None = None
    ) -> cloudwatch.Metric:
        """A catalog-checked, hand-built metric at this dashboard's period (add-on components)."""
        return self._hand_built(namespace, name, dimensions, statistic)

    def add_alarm(self, spec: AlarmSpec) -> cloudwatch.Alarm:
        """One more alarm notifying this construct's destinations (for add-on components)."""
        self._add_alarm(spec)
        return self.alarms[spec.id]

    def _availability(self) -> cloudwatch.Metric:
        dims = mc.proxy_availability_dimensions(self._watched.proxy_name)
        return self._hand_built(mc.RDS, "AvailabilityPercentage", dims)

    def _server_errors(self, entrypoint: str) -> cloudwatch.Metric:
        dims = {"service": self._service, contract.ENTRYPOINT_DIMENSION: entrypoint}
        return self._hand_built(self._namespace, contract.SERVER_ERRORS_METRIC, dims)

    # The instance's helpers default to Average: connections are read at their peak and free
    # space at its lowest point, as AWS's statistics for them allow (the catalog rows).
    def _writer(self, name: str, statistic: str) -> cloudwatch.Metric | None:
        """Aurora: the writer by DBClusterIdentifier + Role, which follows a failover (no
        construct offers that series); None for an instance (its own helpers)."""
        cluster = self._watched.db_cluster_identifier
        if cluster is None:
            return None
        dims = {"DBClusterIdentifier": cluster, "Role": AURORA_METRIC_ROLE_WRITER.value}
        return self._hand_built(mc.RDS, name, dims, statistic)

    def _instance(self) -> rds.IDatabaseInstance:
        assert self._watched.database is not None, "an instance shape watches its instance"  # noqa: S101
        return self._watched.database

    def _db_connections(self) -> cloudwatch.Metric:
        return self._writer("DatabaseConnections", MAX) or self._checked(
            self._instance().metric_database_connections(statistic=MAX, period=self._period)
        )

    def _db_cpu(self) -> cloudwatch.Metric:
        return self._writer("CPUUtilization", cloudwatch.Stats.AVERAGE) or self._checked(
            self._instance().metric_cpu_utilization(period=self._period)
        )

    def _db_free_storage(self) -> cloudwatch.Metric:
        return self._checked(
            self._instance().metric_free_storage_space(statistic=MIN, period=self._period)
        )

    def _db_freeable_memory(self) -> cloudwatch.Metric:
        return self._writer("FreeableMemory", MIN) or self._checked(
            self._instance().metric_freeable_memory(statistic=MIN, period=self._period)
        )

    def _api_5xx(self) -> cloudwatch.Metric:
        return self._checked(self._watched.http_api.metric_server_error(period=self._period))

    def _throttles(self, fn: lambda_.IFunction) -> cloudwatch.Metric:
        return self._checked(fn.metric_throttles(period=self._period))

    def _errors(self, fn: lambda_.IFunction) -> cloudwatch.Metric:
        return self._checked(fn.metric_errors(period=self._period))

    def _duration_p99(self, fn: lambda_.IFunction) -> cloudwatch.Metric:
        stat = cloudwatch.Stats.p(99)
        return self._checked(fn.metric_duration(statistic=stat, period=self._period))

    def _concurrency(self, fn: lambda_.IFunction) -> cloudwatch.Metric:
        # No metric_* helper for it: Function.metric with the function's FunctionName.
        metric = fn.metric("ConcurrentExecutions", statistic=MAX, period=self._period)
        return self._checked(metric)

    def _pool_usage(self) -> cloudwatch.MathExpression:
        """Server connections in use as % of what the proxy may open, over all nodes."""
        return cloudwatch.MathExpression(
            expression="100 * used / allowed",
            using_metrics={
                "used": self._proxy("DatabaseConnections"),
                "allowed": self._proxy("MaxDatabaseConnectionsAllowed"),
            },
            label="Proxy pool in use (%)",
            period=self._period,
        )

    # --- alarms -------------------------------------------------------------------------------

    def _alarm_specs(self) -> list[AlarmSpec]:
        return [*self._proxy_specs(), *self._database_specs(), *self._service_specs()]

    @property
    def _has_storage_metric(self) -> bool:
        """Aurora publishes no FreeStorageSpace (its storage grows by itself)."""
        return self._watched.db_cluster_identifier is None

    def _proxy_specs(self) -> list[AlarmSpec]:
        c, t = self._config, self.thresholds
        return [
            AlarmSpec(
                "ProxyPoolSaturated",
                self._pool_usage(),
                c.pool_saturation_percent,
                c.pool_saturation_evaluation_periods,
                GTE,
                f"Proxy server connections at or above {c.pool_saturation_percent}% of "
                "MaxDatabaseConnectionsAllowed (both summed over the proxy's nodes) for "
                f"{c.pool_saturation_evaluation_periods} periods: requests will queue for a "
                "connection (borrow timeout -> 503s); raise max_connections_percent, scale the "
                "instance or cut reserved concurrency",
            ),
            AlarmSpec(
                "ProxySessionPinning",
                self._proxy("DatabaseConnectionsCurrentlySessionPinned"),
                c.pinned_connections_threshold,
                c.pinned_evaluation_periods,
                GT,
                f"More than {c.pinned_connections_threshold} session-pinned server connections "
                f"(summed over the proxy's nodes) for {c.pinned_evaluation_periods} periods: "
                "multiplexing is lost (SET, PREPARE, temp tables, advisory locks?)",
            ),
            AlarmSpec(
                "ProxyBorrowLatency",
                self._proxy("DatabaseConnectionsBorrowLatency"),
                t.borrow_latency_us,
                c.borrow_latency_evaluation_periods,
                GT,
                f"Average connection borrow latency above {t.borrow_latency_us} us: "
                "the pool is exhausted or the database is slow",
            ),
            AlarmSpec(
                "ProxyAvailability",
                self._availability(),
                c.proxy_availability_percent,
                c.proxy_availability_evaluation_periods,
                LT,
                f"Proxy availability (read/write target, average over its nodes) below "
                f"{c.proxy_availability_percent}%. Reported only after the first successful "
                "connection, so no data is not a failure; API 5xx and ServerErrors catch a proxy "
                "that is down under traffic",
                NOT_BREACHING,
            ),
        ]

    def _database_specs(self) -> list[AlarmSpec]:
        c, t = self._config, self.thresholds
        return [
            AlarmSpec(
                "DbConnectionsHigh",
                self._db_connections(),
                t.db_connections,
                c.db_connections_evaluation_periods,
                GT,
                f"Database connections above {t.db_connections} of max_connections="
                f"{t.max_connections} (the proxy alone stops at {t.proxy_ceiling}): something "
                "besides the proxy is eating the admin headroom; clients are about to be refused",
            ),
            AlarmSpec(
                "DbCpuHigh",
                self._db_cpu(),
                c.db_cpu_percent,
                c.db_cpu_evaluation_periods,
                GT,
                f"Database CPU above {c.db_cpu_percent}%",
            ),
            *(
                [
                    AlarmSpec(
                        "DbFreeStorageLow",
                        self._db_free_storage(),
                        t.free_storage_bytes,
                        c.free_storage_evaluation_periods,
                        LT,
                        f"Database free storage below {t.free_storage_bytes} bytes",
                    )
                ]
                if self._has_storage_metric
                else []
            ),
        ]

    def _service_specs(self) -> list[AlarmSpec]:
        c = self._config
        specs = [
            AlarmSpec(
                "ApiServerErrors",
                self._api_5xx(),
                c.server_errors_threshold,
                c.lambda_evaluation_periods,
                GTE,
                f"{c.server_errors_threshold}+ HTTP API 5xx answers per period: the handler "
                "answered 503/500 (database unreachable, timeouts) or failed; Lambda Errors "
                "does not count handled failures",
                NOT_BREACHING,
            ),
            AlarmSpec(
                "DirectServerErrors",
                self._server_errors(contract.DIRECT),
                c.server_errors_threshold,
                c.lambda_evaluation_periods,
                GTE,
                f"{c.server_errors_threshold}+ handled server errors per period on the "
                "direct-invoke path (the functions' own ServerErrors metric)",
                NOT_BREACHING,
            ),
        ]
        for fn, label in zip(self._watched.functions, self._labels, strict=True):
            specs += [
                AlarmSpec(
                    f"{label}Throttles",
                    self._throttles(fn),
                    c.lambda_throttles_threshold,
                    c.lambda_evaluation_periods,
                    GTE,
                    f"{label}: {c.lambda_throttles_threshold}+ throttled invocations per period "
                    "(reserved concurrency reached)",
                    NOT_BREACHING,
                ),
                AlarmSpec(
                    f"{label}Errors",
                    self._errors(fn),
                    c.lambda_errors_threshold,
                    c.lambda_evaluation_periods,
                    GTE,
                    f"{label}: {c.lambda_errors_threshold}+ failed invocations per period",
                    NOT_BREACHING,
                ),
            ]
        return specs

    def _add_alarm(self, spec: AlarmSpec) -> None:
        alarm = cloudwatch.Alarm(
            self,
            spec.id,
            metric=spec.metric,
            threshold=spec.threshold,
            evaluation_periods=spec.periods,
            comparison_operator=spec.comparison,
            treat_missing_data=spec.missing,
            alarm_description=spec.description,
        )
        for action in self._actions:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.alarms[spec.id] = alarm

    # --- topic ----------------------------------------------------------------------------------

    def _build_topic(self) -> sns.Topic:
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
        restrict_grants_to_aws_services(self.key)
        # What AWS documents for alarms publishing to a CMK-encrypted topic. No aws:Source*
        # condition here: that CloudWatch sends them on its KMS calls is not documented, and a
        # condition it does not satisfy would silently drop every notification. The topic
        # policy below carries the account and alarm-ARN scoping.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(self, "AlarmTopic", master_key=self.key, enforce_ssl=True)
        alarm_arns = ALARM_ARN_FORMAT.value.format(
            partition=stack.partition, region=stack.region, account=stack.account, name="*"
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarm_arns},
                },
            )
        )
        if self._config.alarm_email is not None:
            topic.add_subscription(subscriptions.EmailSubscription(self._config.alarm_email))
        return topic

    # --- dashboard ------------------------------------------------------------------------------

    def _build_dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        for row in (
            self._headline_row(),
            self._proxy_row(),
            self._latency_row(),
            self._errors_row(),
            self._database_row(),
        ):
            dashboard.add_widgets(*row)
        return dashboard

    def _headline_row(self) -> list[cloudwatch.IWidget]:
        concurrency = [
            self._concurrency(fn).with_(label=f"{label} ConcurrentExecutions")
            for fn, label in zip(self._watched.functions, self._labels, strict=True)
        ]
        note = cloudwatch.TextWidget(
            markdown=(
                "## Lambda -> RDS Proxy -> PostgreSQL\n"
                "Function concurrency may grow with load; the proxy's DatabaseConnections "
                "must stay flat below its ceiling. If DatabaseConnections follow "
                "ConcurrentExecutions, connections are not being multiplexed. Proxy counts are "
                "summed over the proxy's nodes."
            ),
            width=24,
            height=2,
        )
        graph = self._graph(
            "Concurrency vs proxy connections",
            left=concurrency,
            right=[
                self._proxy("ClientConnections").with_(label="Proxy ClientConnections"),
                self._proxy("DatabaseConnections").with_(label="Proxy DatabaseConnections"),
            ],
            width=12,
        )
        pool = self._graph(
            "Proxy pool in use (%)",
            left=[self._pool_usage()],
            annotations=[self.alarms["ProxyPoolSaturated"]],
            width=12,
        )
        return [note, graph, pool]

    def _proxy_row(self) -> list[cloudwatch.IWidget]:
        return [
            self._graph(
                "Proxy server connections vs allowed",
                left=[
                    self._proxy("DatabaseConnections").with_(label="DatabaseConnections"),
                    self._proxy("MaxDatabaseConnectionsAllowed").with_(label="Allowed"),
                ],
            ),
            self._graph(
                "Session-pinned connections",
                left=[self._proxy("DatabaseConnectionsCurrentlySessionPinned")],
                annotations=[self.alarms["ProxySessionPinning"]],
            ),
            self._graph(
                "Proxy availability (%)",
                left=[self._availability()],
                annotations=[self.alarms["ProxyAvailability"]],
            ),
        ]

    def _latency_row(self) -> list[cloudwatch.IWidget]:
        return [
            self._graph(
                "Borrow latency (us)",
                left=[self._proxy("DatabaseConnectionsBorrowLatency")],
                annotations=[self.alarms["ProxyBorrowLatency"]],
            ),
            self._graph(
                "Query response latency (us)", left=[self._proxy("QueryDatabaseResponseLatency")]
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=8, height=6
            ),
        ]

    def _errors_row(self) -> list[cloudwatch.IWidget]:
        fns = self._watched.functions
        return [
            self._graph(
                "Handled server errors (5xx)",
                left=[
                    self._api_5xx().with_(label="HTTP API 5xx"),
                    self._server_errors(contract.DIRECT).with_(label="direct ServerErrors"),
                ],
                width=6,
            ),
            self._graph("Lambda throttles", left=[self._throttles(fn) for fn in fns], width=6),
            self._graph("Lambda errors", left=[self._errors(fn) for fn in fns], width=6),
            self._graph(
                "Lambda duration p99 (ms)",
                left=[self._duration_p99(fn) for fn in fns],
                width=6,
            ),
        ]

    def _database_row(self) -> list[cloudwatch.IWidget]:
        t = self.thresholds
        return [
            self._graph(
                "DB connections vs max_connections",
                left=[self._db_connections().with_(label="DB DatabaseConnections")],
                annotations=[self.alarms["DbConnectionsHigh"]],
                extra_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=t.max_connections, label="max_connections", color="#d62728"
                    )
                ],
                width=6,
            ),
            self._graph(
                "DB CPU (%)",
                left=[self._db_cpu()],
                annotations=[self.alarms["DbCpuHigh"]],
                width=6,
            ),
            self._graph("DB freeable memory (bytes)", left=[self._db_freeable_memory()], width=6),
            *(
                [
                    self._graph(
                        "DB free storage (bytes)",
                        left=[self._db_free_storage()],
                        annotations=[self.alarms["DbFreeStorageLow"]],
                        width=6,
                    )
                ]
                if self._has_storage_metric
                else []
            ),
        ]

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
            left=list(left),
            right=list(right),
            left_annotations=[a.to_annotation() for a in annotations] + list(extra_annotations),
            period=self._period,
            width=width,
            height=6,
        )
