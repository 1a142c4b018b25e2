"""SagaEvents: the saga lifecycle from EventBridge's execution status changes.

What an event does (audit record, ActiveSagas counter, outcome metrics) is
``functions.audit.saga_events``; this handler checks the event's shape and, for an execution
that ended CompensationFailed, sends its dead letter unless ReportCompensationFailure did
(once per execution: ``functions.agents.compensation_failure``). Raising after ``process``
is safe: the event is retried and ``process`` is idempotent.
"""

from __future__ import annotations

from typing import Any

from functions.audit import active, saga_events
from functions.audit.saga_events import PREFIX_ENV
from functions.audit.steps import lambda_handler
from functions.common import executions
from functions.common.names import EXECUTION_STATUS_CHANGE as DETAIL_TYPE
from functions.common.observability import logger
from functions.common.settings import Settings
from functions.handlers.compensation_failure import send_dead_letter

# PREFIX_ENV: the embedded stack's event bus sets it around each call (stepsaga.embedded.events).
__all__ = ["DETAIL_TYPE", "PREFIX_ENV", "handler"]


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("detail-type") != DETAIL_TYPE or not isinstance(event.get("detail"), dict):
        logger.warning("not an execution status change", extra={"detail_type": event.get("detail-type")})
        return {"ignored": event.get("detail-type")}
    detail = event["detail"]
    # EventBridge is not the only possible caller: believe only what Step Functions confirms.
    status = str(detail.get("status") or "")
    if status == active.RUNNING or status in active.TERMINAL:  # the lifecycle ignores any other
        executions.require(
            str(detail.get("executionArn")),
            name=detail.get("name"),
            status=detail.get("status"),
            redrive_count=int(detail.get("redriveCount") or 0),
            field="detail",
        )
    result = saga_events.process(detail)
    failed = saga_events.compensation_failed(event["detail"])
    settings = Settings.from_env()
    if failed is not None and settings.dead_letter_queue_url:
        reported = send_dead_letter(
            settings,
            failed.saga_id,
            failed.execution_arn,
            {"Error": failed.error, "Cause": failed.cause},
            int(detail.get("redriveCount") or 0),
        )
        if not reported.already_sent:
            logger.error("no dead letter was recorded for the saga: sent", extra={"saga_id": failed.saga_id})
        result["dead_letter"] = reported.message_id
    return result
