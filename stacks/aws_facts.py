"""AWS limits, formats and behaviours this app relies on: each written once, with its source.

Tests check the synthesized templates against these values, so a fact that is wrong here is
wrong in one place. `verified=False` marks what could not be confirmed against the page cited.
The CloudWatch metrics live in stacks/metric_catalog.py (same idea, one row per metric).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A value AWS defines, where it is documented, and whether that page confirmed it."""

    value: T
    source: str
    note: str = ""
    verified: bool = True


# --- API Gateway ------------------------------------------------------------------------------
HTTP_API_MAX_INTEGRATION_TIMEOUT_S = Fact(
    30,
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html",
    "Maximum integration timeout of an HTTP API (REST APIs: 29 s by default).",
)

# --- Lambda -----------------------------------------------------------------------------------
LAMBDA_MAX_TIMEOUT_S = Fact(
    900, "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
)
LAMBDA_UNRESERVED_MINIMUM = Fact(
    100,
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html",
    "Lambda keeps at least this much account concurrency unreserved: the sum of reserved "
    "concurrency must fit in (account limit - 100).",
)

# --- CloudWatch Logs --------------------------------------------------------------------------
LOG_RETENTION_DAYS = Fact(
    (
        *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192),
        *(2557, 2922, 3288, 3653),
    ),
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html",
)

# --- RDS --------------------------------------------------------------------------------------
PERFORMANCE_INSIGHTS_RETENTION_DAYS = Fact(
    (7, *(31 * m for m in range(1, 24)), 731),
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html",
    "PerformanceInsightsRetentionPeriod: 7, month * 31 (1..23 months) or 731.",
)
DATABASE_INSIGHTS_ADVANCED_MIN_RETENTION_DAYS = Fact(
    465,
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DatabaseInsights.TurningOnAdvanced.html",
    "Database Insights Advanced needs Performance Insights retention of at least 15 months.",
)
PERFORMANCE_INSIGHTS_END_OF_LIFE = Fact(
    "2026-07-31",
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Overview.html",
    "After this date the Performance Insights console experience ends; CloudWatch Database "
    "Insights replaces it (Standard mode is the free tier).",
)

# --- ARNs -------------------------------------------------------------------------------------
ALARM_ARN_FORMAT = Fact(
    "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    "A colon, not a slash, separates 'alarm' from the alarm name.",
)
SNS_TOPIC_ARN = Fact(
    re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}$"),
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html",
    "arn:<partition>:sns:<region>:<account>:<topic name> (names: letters, digits, - and _; "
    "a FIFO topic's .fifo suffix is not accepted here: alarms cannot notify FIFO topics).",
)
AVAILABILITY_ZONE_NAME = Fact(
    re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+[a-z]$"),
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html",
    "Region code followed by a letter, e.g. eu-west-1a.",
)


def alarm_arn(*, partition: str, region: str, account: str, name: str) -> str:
    """The ARN CloudWatch gives an alarm (what aws:SourceArn carries when it publishes)."""
    return ALARM_ARN_FORMAT.value.format(
        partition=partition, region=region, account=account, name=name
    )
