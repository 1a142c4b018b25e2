"""Execution agent: a callback step (``.waitForTaskToken``) and its compensation.

Step Functions invokes this handler asynchronously with a task token and waits (up to the
step's timeout) for the handler to report. The handler heartbeats after every test, so a
crashed executor is noticed within one heartbeat interval, and a late executor whose task
already timed out stops instead of writing on (the ledger fence also refuses its writes).
The heartbeat and the report are ``functions.agents.callback``; the work is
``functions.agents.execution``.
"""

from __future__ import annotations

from typing import Any

from functions.agents import callback, execution
from functions.audit.steps import lambda_handler
from functions.common import aws
from functions.common.errors import InvalidRequest, SagaFenced
from functions.common.observability import logger
from functions.common.step import Step
from functions.common.store import S3ArtifactStore, SagaStore
from functions.common.targets import fetch
from functions.control.records import SagaRecords
from functions.handlers.base import backward, forward


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> None:
    # Not at module level: the idempotency package imports boto3 (``forward`` loads it anyway).
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    token = (event.get("context") or {}).get("task_token")
    if not token:
        # Without a token there is no one to report to: refuse, typed (never retried by the saga).
        raise InvalidRequest("context.task_token: Execution must be invoked by a .waitForTaskToken task")
    sfn = aws.client("stepfunctions")
    heartbeat = callback.Heartbeat(sfn, token, (event.get("context") or {}).get("heartbeat_seconds"))

    def _run(step: Step, store: SagaStore) -> dict[str, Any]:
        allowed = step.settings.allowed_private_hosts
        priority = (
            SagaRecords(step.settings.sagas_table).priority(step.saga_id)
            if step.settings.sagas_table
            else "normal"
        )
        return execution.run(
            step,
            store,
            S3ArtifactStore(step.settings),
            lambda url: fetch(url, allowed),
            heartbeat,
            priority=priority,
            seconds_left=(lambda: context.get_remaining_time_in_millis() / 1000)
            if hasattr(context, "get_remaining_time_in_millis")
            else None,
        )

    try:
        result = forward(event, context, _run, at_least_once=True)
    except IdempotencyAlreadyInProgressError:
        logger.info("a duplicate delivery of this task is already running; it will report")
        return
    except SagaFenced as fenced:
        logger.warning(str(fenced))
        return
    except Exception as error:  # every other outcome is the task's failure, reported by name
        callback.report(sfn, token, error=error)
        return
    callback.report(sfn, token, result=result)


@lambda_handler
def compensate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def _undo(step: Step, store: SagaStore) -> dict[str, Any]:
        return execution.undo(step, store, S3ArtifactStore(step.settings))

    return backward(event, _undo, undoes="Execution")
