"""Small helpers shared by the components (enum mappings that jsii does not provide)."""

from __future__ import annotations

from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

_PI_RETENTION = {
    7: rds.PerformanceInsightRetention.DEFAULT,
    31: rds.PerformanceInsightRetention.MONTHS_1,
    93: rds.PerformanceInsightRetention.MONTHS_3,
    731: rds.PerformanceInsightRetention.LONG_TERM,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for a day count that config validation allowed."""
    return _RETENTION[days]


def pi_retention(days: int) -> rds.PerformanceInsightRetention:
    """Performance Insights retention for a day count that config validation allowed."""
    return _PI_RETENTION[days]
