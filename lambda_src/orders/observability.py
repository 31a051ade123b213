"""Powertools Logger, Metrics and Tracer shared by the package (no I/O at import)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

F = TypeVar("F", bound=Callable[..., Any])

# Service name, namespace and log level come from POWERTOOLS_* variables set by the stack; the
# fallbacks only keep local runs and tests from failing (an EMF flush without a namespace raises).
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "orders")
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Orders")


class TracerLike(Protocol):
    def capture_lambda_handler(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...

    def capture_method(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...


class _NoOpTracer:
    """Stands in when tracing is off: powertools' Tracer imports the X-Ray SDK even when
    disabled (~0.1 s, more outside Lambda), which would land on every cold start for nothing."""

    def capture_lambda_handler(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return lambda function: function

    def capture_method(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return lambda function: function


def tracing_enabled(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Same rule as powertools: on inside Lambda unless POWERTOOLS_TRACE_DISABLED is truthy."""
    disabled = env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower()
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL")
    return in_lambda and disabled not in ("1", "true", "yes", "on", "y", "t")


def _make_tracer() -> TracerLike:
    if not tracing_enabled():
        return _NoOpTracer()
    from aws_lambda_powertools import Tracer  # noqa: PLC0415  # heavy: only when tracing is on

    # auto_patch=False: patching would import more modules on the cold path, and the only network
    # I/O worth tracing is the database, which the service functions wrap in subsegments.
    return Tracer(auto_patch=False)


tracer = _make_tracer()

__all__ = ["MetricUnit", "logger", "metrics", "tracer", "tracing_enabled"]
