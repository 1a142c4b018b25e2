"""SagaEvents: the saga lifecycle from EventBridge's execution status changes.

What an event does (audit record, ActiveSagas counter, outcome metrics) is
``functions.audit.saga_events``; this handler only checks the event's shape.
"""

from __future__ import annotations

from typing import Any

from functions.audit import saga_events
from functions.audit.saga_events import PREFIX_ENV
from functions.audit.steps import lambda_handler
from functions.common.names import EXECUTION_STATUS_CHANGE as DETAIL_TYPE
from functions.common.observability import logger

# PREFIX_ENV: the embedded stack's event bus sets it around each call (stepsaga.embedded.events).
__all__ = ["DETAIL_TYPE", "PREFIX_ENV", "handler"]


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("detail-type") != DETAIL_TYPE or not isinstance(event.get("detail"), dict):
        logger.warning("not an execution status change", extra={"detail_type": event.get("detail-type")})
        return {"ignored": event.get("detail-type")}
    return saga_events.process(event["detail"])
