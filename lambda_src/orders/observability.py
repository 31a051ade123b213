"""Powertools Logger, Metrics and Tracer shared by the package (no I/O at import)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Service name, namespace and log level come from POWERTOOLS_* variables set by the stack.
logger = Logger()
metrics = Metrics()
# auto_patch=False: patching would import botocore (and more) on the cold path, and the only
# network I/O worth tracing is the database, which service functions wrap in subsegments.
tracer = Tracer(auto_patch=False)

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
