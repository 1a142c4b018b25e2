"""Report a compensation that exhausted its retries: what is left to undo, to the DLQ."""

from __future__ import annotations

import json
from typing import Any

from functions.agents.ledger import created
from functions.common import aws
from functions.common.observability import lambda_handler, logger, metric
from functions.common.settings import Settings
from functions.common.step import parse_event
from functions.common.store import COMPENSATED, DynamoSagaStore


def left_to_undo(ledger: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per step not yet compensated, the ids it created, by kind."""
    kinds = ["scenarios", "tests", "runs", "artifacts"]  # reports are never undone
    remaining = {}
    for step, entry in sorted(ledger.items()):
        if entry.get("status") == COMPENSATED:
            continue
        made = {kind: created(entry, kind) for kind in kinds if created(entry, kind)}
        if made:
            remaining[step] = made
    return remaining


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = parse_event(event)
    settings = Settings.from_env()
    remaining = left_to_undo(DynamoSagaStore(settings).ledger(parsed.context.saga_id))
    failure = parsed.saga.get("compensation_error") or {}
    message = {
        "saga_id": parsed.context.saga_id,
        "execution_arn": parsed.context.execution_arn,
        "error": failure.get("Error"),
        "cause": failure.get("Cause"),
        "left_to_undo": remaining,
        "resume": "run the remaining compensations: stepsaga.cli.resume.resume(stack, saga_id) on the "
        "embedded stack; on AWS invoke each Compensate<Step> function (see docs/RELIABILITY.md)",
    }
    response = aws.client("sqs").send_message(
        QueueUrl=settings.dead_letter_queue_url, MessageBody=json.dumps(message)
    )
    metric("CompensationFailed")
    logger.error("compensation failed; saga needs a resume", extra={"left_to_undo": remaining})
    return {"message_id": response["MessageId"], "left_to_undo": sorted(remaining)}
