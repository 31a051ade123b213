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
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for a day count that config validation allowed."""
    return _RETENTION[days]


def pi_retention(days: int) -> rds.PerformanceInsightRetention:
    """Performance Insights retention for a day count config allowed: 7, 31 x months or 731."""
    if days == 7:
        return rds.PerformanceInsightRetention.DEFAULT
    if days == 731:
        return rds.PerformanceInsightRetention.LONG_TERM
    months, rest = divmod(days, 31)
    if rest or not 1 <= months <= 23:
        raise ValueError(f"{days} is not a Performance Insights retention (7, 31 x 1..23, 731)")
    retention_: rds.PerformanceInsightRetention = getattr(
        rds.PerformanceInsightRetention, f"MONTHS_{months}"
    )
    return retention_
