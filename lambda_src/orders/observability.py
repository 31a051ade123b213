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
logger = Logger(service=os.environ.get(contract.POWERTOOLS_SERVICE_NAME.name) or "orders")
metrics = Metrics(namespace=os.environ.get(contract.POWERTOOLS_METRICS_NAMESPACE.name) or "Orders")

__all__ = ["MetricUnit", "logger", "metrics"]
