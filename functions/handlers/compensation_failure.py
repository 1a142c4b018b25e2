"""ReportCompensationFailure: ``functions.agents.compensation_failure`` sends the dead letter."""

from __future__ import annotations

from typing import Any

from functions.agents import compensation_failure
from functions.audit.steps import lambda_handler
from functions.common import aws
from functions.common.observability import logger, metric
from functions.common.settings import Settings
from functions.common.step import parse_event
from functions.common.store import DynamoSagaStore


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = parse_event(event)
    settings = Settings.from_env()

    def send(body: str) -> str:
        sent = aws.client("sqs").send_message(QueueUrl=settings.dead_letter_queue_url, MessageBody=body)
        return str(sent["MessageId"])

    reported = compensation_failure.report(
        DynamoSagaStore(settings),
        send,
        parsed.context.saga_id,
        parsed.context.execution_arn,
        parsed.saga.get("compensation_error") or {},
    )
    metric("CompensationFailed")
    logger.error("compensation failed; saga needs a resume", extra={"left_to_undo": reported.left_to_undo})
    return {"message_id": reported.message_id, "left_to_undo": sorted(reported.left_to_undo)}
