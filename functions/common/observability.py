"""Powertools, set up once: Logger, Metrics and (only when tracing is on) Tracer.

Handlers may run concurrently in one process (the embedded stack runs them in threads), so
saga keys are appended with Logger's thread-safe API and every metric is emitted on its own
with ``single_metric`` instead of through the shared metric set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepsaga"))
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StepSaga")

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


Handler = Callable[[dict[str, Any], Any], Any]


def lambda_handler(fn: Handler) -> Handler:
    """Wrap a handler with the cross-cutting Powertools behaviour."""

    @functools.wraps(fn)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        ctx = event.get("context") if isinstance(event, dict) else None
        keys: dict[str, object] = {"function_request_id": getattr(context, "aws_request_id", None)}
        if isinstance(ctx, dict):
            keys.update({k: ctx.get(k) for k in ("saga_id", "execution_arn", "state", "attempt")})
        logger.thread_safe_append_keys(**keys)
        # Audit/metric hooks (functions.audit.steps): step events only when AUDIT_TABLE is set,
        # a StepFailed metric (by step and error) whenever a saga task fails.
        from functions.audit import steps

        scope = steps.begin(event)
        try:
            if tracing_enabled():
                result = tracer().capture_lambda_handler(fn)(event, context)
            else:
                result = fn(event, context)
        except Exception as error:
            steps.failed(scope, type(error).__name__, str(error))
            raise
        else:
            steps.succeeded(scope, result)
            return result
        finally:
            steps.end(scope)
            logger.thread_safe_clear_keys()

    return wrapper
