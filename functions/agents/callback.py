"""A callback step's line to Step Functions (``.waitForTaskToken``): heartbeats while the agent
works, then its outcome.

A task that is over (timed out, or retried with a new token) answers every call with one of
``TASK_GONE``: a heartbeat then stops the agent instead of letting it work on as a zombie, and
an outcome is dropped (the ledger fence already refuses the late attempt's writes).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ClientError

from functions.common.errors import SagaFenced
from functions.common.observability import logger

# Errors that mean "this task is over": stop working, report nothing more.
TASK_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")
DEFAULT_WINDOW_SECONDS = 120
MAX_CAUSE = 32_000  # SendTaskFailure's limit on the cause


class TaskCallbacks(Protocol):
    """The Step Functions client's callback API (``aws.client("stepfunctions")``)."""

    def send_task_heartbeat(self, *, taskToken: str) -> Any: ...
    def send_task_success(self, *, taskToken: str, output: str) -> Any: ...
    def send_task_failure(self, *, taskToken: str, error: str, cause: str) -> Any: ...


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


class Heartbeat:
    """Tells Step Functions the agent is alive, at most every quarter of the heartbeat window.

    A heartbeat per test would cost an API call per test; one per quarter window keeps the
    task alive with three missed beats to spare. If the task is already over (timed out,
    retried with a new token), the agent stops instead of working on as a zombie.
    """

    def __init__(
        self,
        sfn: TaskCallbacks,
        token: str,
        window_seconds: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sfn = sfn
        self._token = token
        self._every = (window_seconds or DEFAULT_WINDOW_SECONDS) / 4
        self._clock = clock
        self._last = -math.inf

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < self._every:
            return
        try:
            self._sfn.send_task_heartbeat(taskToken=self._token)
        except ClientError as error:
            if _code(error) in TASK_GONE:
                raise SagaFenced(f"the Execution task is over ({_code(error)}); stopping") from error
            raise
        self._last = now


def report(
    sfn: TaskCallbacks, token: str, result: dict[str, Any] | None = None, error: Exception | None = None
) -> bool:
    """Report the task's outcome: its result, or its error by name. False if the task was over."""
    try:
        if error is None:
            sfn.send_task_success(taskToken=token, output=json.dumps(result))
        else:
            sfn.send_task_failure(taskToken=token, error=type(error).__name__, cause=str(error)[:MAX_CAUSE])
    except ClientError as gone:
        if _code(gone) not in TASK_GONE:
            raise
        logger.warning("task already closed; outcome not reported", extra={"code": _code(gone)})
        return False
    return True
