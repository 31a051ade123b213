"""Powertools Logger and Metrics shared by the package (no I/O at import).

No tracing SDK: Lambda active tracing (functions.tracing) records each invocation's segments
without one, and the X-Ray SDKs are in maintenance mode (end of support 2027-02-25).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from orders import contract

# Service name, namespace and log level come from POWERTOOLS_* variables the stack sets
# (orders.contract); the fallbacks only keep local runs and tests from failing (an EMF flush
# without a namespace raises).
_SERVICE = os.environ.get(contract.POWERTOOLS_SERVICE_NAME.name) or "orders"
logger = Logger(service=_SERVICE)
# `service` given explicitly: Powertools adds it as a dimension only when one is set, and the
# alarms read the {service, entrypoint} dimension set (stacks/metric_catalog.py).
metrics = Metrics(
    namespace=os.environ.get(contract.POWERTOOLS_METRICS_NAMESPACE.name) or "Orders",
    service=_SERVICE,
)


def tag_entrypoint(entrypoint: str) -> None:
    """Tag every metric of this invocation with its entry point (contract.ENTRYPOINT_DIMENSION).

    Called first thing in each handler: Powertools Metrics instances share their state, so a
    default set at import would be whichever handler module was imported last.
    """
    if metrics.default_dimensions.get(contract.ENTRYPOINT_DIMENSION) != entrypoint:
        # Only on a change (first invocation; tests switching handlers): Powertools warns each
        # time an existing dimension is set again.
        metrics.set_default_dimensions(**{contract.ENTRYPOINT_DIMENSION: entrypoint})


__all__ = ["MetricUnit", "logger", "metrics", "tag_entrypoint"]
