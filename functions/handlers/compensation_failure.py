"""ReportCompensationFailure: ``functions.agents.compensation_failure`` sends the dead letter,
once per execution. ``send_dead_letter`` is also what SagaEvents calls for an execution that
ended CompensationFailed without one (``functions.handlers.saga_events``)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from functions.agents import compensation_failure
from functions.audit.steps import lambda_handler
from functions.common import aws, executions
from functions.common.names import DEAD_LETTER_CLAIM_PREFIX, METRIC_COMPENSATION_FAILED
from functions.common.observability import logger, metric
from functions.common.settings import Settings
from functions.common.step import parse_event
from functions.common.store import DynamoSagaStore

# Kept longer than the queue keeps a letter (14 days) and EventBridge retries an event (6 h).
CLAIM_SECONDS = 30 * 24 * 3600


class DynamoClaims:
    """``compensation_failure.Claims`` as items of the Idempotency table (key ``id``, TTL
    ``expiration``, as Powertools' records), under their own key prefix."""

    def __init__(self, table: str) -> None:
        self._table = table

    @staticmethod
    def _key(execution_arn: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": f"{DEAD_LETTER_CLAIM_PREFIX}{execution_arn}"}}

    def sent(self, execution_arn: str) -> str | None:
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table, Key=self._key(execution_arn), ConsistentRead=True)
            .get("Item")
        )
        return str(item["message_id"]["S"]) if item else None

    def record(self, execution_arn: str, message_id: str) -> None:
        try:
            aws.client("dynamodb").put_item(
                TableName=self._table,
                Item={
                    **self._key(execution_arn),
                    "message_id": {"S": message_id},
                    "expiration": {"N": str(int(time.time()) + CLAIM_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


def send_dead_letter(
    settings: Settings, saga_id: str, execution_arn: str, failure: dict[str, Any], redrive_count: int = 0
) -> compensation_failure.Reported:
    """The run's dead letter, sent unless it was already (see the agent's docstring)."""
    # One group per run: a letter nobody has deleted yet holds up no other saga's.
    once = compensation_failure.deduplication_id(compensation_failure.run_key(execution_arn, redrive_count))

    def send(body: str) -> str:
        sent = aws.client("sqs").send_message(
            QueueUrl=settings.dead_letter_queue_url,
            MessageBody=body,
            MessageGroupId=once,
            MessageDeduplicationId=once,
        )
        return str(sent["MessageId"])

    return compensation_failure.report_once(
        DynamoSagaStore(settings),
        DynamoClaims(settings.idempotency_table),
        send,
        saga_id,
        execution_arn,
        failure,
        redrive_count,
    )


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = parse_event(event)
    # Only a saga that exists and is still running (its Fail state comes after this) gets a letter.
    execution = executions.require(
        parsed.context.execution_arn,
        name=parsed.context.saga_id,
        status="RUNNING",
        strict=True,
        field="context.execution_arn",
    )
    reported = send_dead_letter(
        Settings.from_env(),
        parsed.context.saga_id,
        parsed.context.execution_arn,
        parsed.saga.get("compensation_error") or {},
        int(execution.get("redriveCount") or 0),  # this run of it: a redrive is another
    )
    metric(METRIC_COMPENSATION_FAILED)
    logger.error(
        "compensation failed; saga needs a resume",
        extra={"left_to_undo": reported.left_to_undo, "already_sent": reported.already_sent},
    )
    return {"message_id": reported.message_id, "left_to_undo": sorted(reported.left_to_undo)}
