"""Execution agent: a callback step (``.waitForTaskToken``) and its compensation.

Step Functions invokes this handler asynchronously with a task token and waits (up to the
step's timeout) for the handler to report. The handler heartbeats after every test, so a
crashed executor is noticed within one heartbeat interval, and a late executor whose task
already timed out stops instead of writing on (the ledger fence also refuses its writes).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from botocore.exceptions import ClientError

from functions.agents import execution
from functions.common import aws
from functions.common.errors import SagaFenced
from functions.common.observability import lambda_handler, logger
from functions.common.step import Step
from functions.common.store import S3ArtifactStore, SagaStore
from functions.common.targets import fetch
from functions.control.records import SagaRecords
from functions.handlers.base import backward, forward

# Errors that mean "this task is over": stop working, report nothing more.
_TASK_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class Heartbeat:
    """Tells Step Functions the agent is alive, at most every quarter of the heartbeat window.

    A heartbeat per test would cost an API call per test; one per quarter window keeps the
    task alive with three missed beats to spare. If the task is already over (timed out,
    retried with a new token), the agent stops instead of working on as a zombie.
    """

    def __init__(self, token: str, window_seconds: float | None) -> None:
        self._token = token
        self._every = (window_seconds or 120) / 4
        self._last = -math.inf

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        try:
            aws.client("stepfunctions").send_task_heartbeat(taskToken=self._token)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in _TASK_GONE:
                raise SagaFenced(f"the Execution task is over ({code}); stopping") from error
            raise
        self._last = now


def _report(token: str, result: dict[str, Any] | None = None, error: Exception | None = None) -> None:
    sfn = aws.client("stepfunctions")
    try:
        if error is None:
            sfn.send_task_success(taskToken=token, output=json.dumps(result))
        else:
            sfn.send_task_failure(taskToken=token, error=type(error).__name__, cause=str(error)[:32_000])
    except ClientError as gone:
        if gone.response["Error"]["Code"] not in _TASK_GONE:
            raise
        logger.warning(
            "task already closed; outcome not reported", extra={"code": gone.response["Error"]["Code"]}
        )


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> None:
    # Not at module level: the idempotency package imports boto3 (``forward`` loads it anyway).
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    token = (event.get("context") or {}).get("task_token")
    if not token:
        raise ValueError("Execution must be invoked by a .waitForTaskToken task")
    heartbeat = Heartbeat(token, (event.get("context") or {}).get("heartbeat_seconds"))

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
        _report(token, error=error)
        return
    _report(token, result=result)


@lambda_handler
def compensate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def _undo(step: Step, store: SagaStore) -> dict[str, Any]:
        return execution.undo(step, store, S3ArtifactStore(step.settings))

    return backward(event, _undo)
