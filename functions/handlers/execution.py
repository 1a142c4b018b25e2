"""Execution agent: a callback step (``.waitForTaskToken``) and its compensation.

Step Functions invokes this handler asynchronously with a task token and waits (up to the
step's timeout) for the handler to report. The handler heartbeats after every test, so a
crashed executor is noticed within one heartbeat interval, and a late executor whose task
already timed out stops instead of writing on (the ledger fence also refuses its writes).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.exceptions import ClientError

from functions.agents import execution
from functions.common import aws
from functions.common.errors import SagaFenced
from functions.common.observability import lambda_handler, logger
from functions.common.step import Step
from functions.common.store import S3ArtifactStore, SagaStore
from functions.common.targets import fetch
from functions.handlers.base import backward, forward

# Errors that mean "this task is over": stop working, report nothing more.
_TASK_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


def _heartbeat(token: str) -> None:
    try:
        aws.client("stepfunctions").send_task_heartbeat(taskToken=token)
    except ClientError as error:
        if error.response["Error"]["Code"] in _TASK_GONE:
            raise SagaFenced(
                f"the Execution task is over ({error.response['Error']['Code']}); stopping"
            ) from error
        raise


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
    token = (event.get("context") or {}).get("task_token")
    if not token:
        raise ValueError("Execution must be invoked by a .waitForTaskToken task")

    def _run(step: Step, store: SagaStore) -> dict[str, Any]:
        allowed = step.settings.allowed_private_hosts
        return execution.run(
            step,
            store,
            S3ArtifactStore(step.settings),
            lambda url: fetch(url, allowed),
            lambda: _heartbeat(token),
        )

    try:
        result = forward(event, context, _run)
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
