"""Powertools, set up once: Logger, Metrics and (only when tracing is on) Tracer.

The base layer: it imports nothing else from ``functions`` but ``functions.common.names``
(plain constants). The handler wrapper that uses it (saga log keys, tracing, step events) is
``functions.audit.steps.lambda_handler``.

Handlers may run concurrently in one process (the embedded stack runs them in threads), so
saga keys are appended with Logger's thread-safe API and every metric is emitted on its own
with ``single_metric`` instead of through the shared metric set. They also run with their own
environment each, so ``logger`` logs under the service name of the function it runs in.
"""

from __future__ import annotations

import os
import threading
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.common.names import ENV_METRICS_NAMESPACE, ENV_SERVICE_NAME, METRIC_NAMESPACE


def _service() -> str:
    return os.environ.get(ENV_SERVICE_NAME, "stepsaga")


class _LoggerPerService:
    """The Powertools Logger of the current function's service, made on first use of that service.

    On Lambda the environment never changes, so this is the one Logger made at import. The embedded
    stack runs several functions in one process, each with its own environment (a per-thread view of
    ``os.environ``): each logs under its own service, as on AWS.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first = Logger(service=_service())
        self._loggers = {self._first.service: self._first}

    def current(self) -> Logger:
        service = _service()
        found = self._loggers.get(service)
        if found is None:
            with self._lock:
                found = self._loggers.get(service)
                if found is None:
                    # Writes where the first one does (``stepsaga up`` points it at a file).
                    stream = getattr(self._first.registered_handler, "stream", None)
                    found = self._loggers[service] = Logger(service=service, stream=stream)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current(), name)


logger = cast(Logger, _LoggerPerService())
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
