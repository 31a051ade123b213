"""Read every metric a synthesized template's alarms and dashboards use, as CloudWatch sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TOKEN = "<token>"
# CloudWatch dashboards graph a metric with Average unless a statistic is given.
DASHBOARD_DEFAULT_STAT = "Average"


@dataclass(frozen=True)
class MetricUse:
    """One metric read by an alarm or a dashboard widget."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, Any]
    statistic: str


def _dimensions(raw: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in raw or []}


def alarm_metrics(template: dict[str, Any]) -> list[MetricUse]:
    """Metrics of every AWS::CloudWatch::Alarm: plain ones and metric-math inputs."""
    found: list[MetricUse] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            statistic = props.get("Statistic") or props["ExtendedStatistic"]
            found.append(
                MetricUse(
                    logical_id,
                    props["Namespace"],
                    props["MetricName"],
                    _dimensions(props.get("Dimensions")),
                    statistic,
                )
            )
        for query in props.get("Metrics", []):
            if "MetricStat" not in query:
                continue
            metric = query["MetricStat"]["Metric"]
            found.append(
                MetricUse(
                    f"{logical_id}/{query['Id']}",
                    metric["Namespace"],
                    metric["MetricName"],
                    _dimensions(metric.get("Dimensions")),
                    query["MetricStat"]["Stat"],
                )
            )
    return found


def dashboard_bodies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each dashboard's body as JSON, CloudFormation tokens replaced by a placeholder."""
    bodies = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = resource["Properties"]["DashboardBody"]
        parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
        text = "".join(p if isinstance(p, str) else TOKEN for p in parts)
        bodies[logical_id] = json.loads(text)
    return bodies


def dashboard_metrics(template: dict[str, Any]) -> list[MetricUse]:
    """Metrics graphed by every dashboard widget (math expressions' inputs included)."""
    found: list[MetricUse] = []
    for logical_id, body in dashboard_bodies(template).items():
        for index, widget in enumerate(body["widgets"]):
            props = widget.get("properties", {})
            for row in props.get("metrics", []):
                strings = [item for item in row if isinstance(item, str)]
                options = next((item for item in row if isinstance(item, dict)), {})
                if "expression" in options:
                    continue
                namespace, name, *pairs = strings
                dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
                statistic = options.get("stat") or props.get("stat") or DASHBOARD_DEFAULT_STAT
                where = f"{logical_id}/widget{index} {props.get('title', widget['type'])!r}"
                found.append(MetricUse(where, namespace, name, dimensions, statistic))
    return found
