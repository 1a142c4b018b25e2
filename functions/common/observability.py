"""Powertools, set up once: Logger, Metrics and (only when tracing is on) Tracer.

The base layer: it imports nothing else from ``functions`` but ``functions.common.names``
(plain constants). The handler wrapper that uses it (saga log keys, tracing, step events) is
``functions.audit.steps.lambda_handler``.

Handlers may run concurrently in one process (the embedded stack runs them in threads), so
saga keys are appended with Logger's thread-safe API and every metric is emitted on its own
with ``single_metric`` instead of through the shared metric set.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.common.names import ENV_METRICS_NAMESPACE, ENV_SERVICE_NAME, METRIC_NAMESPACE

logger = Logger(service=os.environ.get(ENV_SERVICE_NAME, "stepsaga"))
NAMESPACE = os.environ.get(ENV_METRICS_NAMESPACE, METRIC_NAMESPACE)

_tracer: Any = None


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() != "true"


def tracer() -> Any:
    """The X-Ray tracer, imported on first use: its SDK costs ~300 ms of cold start."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def metric(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "false").lower() == "true":
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as one:
        for key, dim in dimensions.items():
            one.add_dimension(name=key, value=dim)
