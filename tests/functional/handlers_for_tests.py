"""Lambda handlers for ``test_adapters.py``: the in-process Lambda adapter imports them by name
(``tests.functional.handlers_for_tests.<function>``), so the module-level records below are the
same objects the tests read."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

# What the handlers saw, for the tests to assert on (reset by the test fixture).
TOKENS: list[str] = []
HEARTBEATS: list[str] = []
ASYNC_DONE: list[Any] = []
RELEASE = threading.Event()


class Kaboom(Exception):
    """A handler's own error type: its name must become the Step Functions error name."""


def reset() -> None:
    TOKENS.clear()
    HEARTBEATS.clear()
    ASYNC_DONE.clear()
    RELEASE.clear()


def echo(event: Any, context: Any) -> Any:
    return event


def boom(event: Any, context: Any) -> Any:
    raise Kaboom(f"boom: {event.get('why', 'no reason')}")


def env_probe(event: Any, context: Any) -> dict[str, Any]:
    """Read variables twice, with a pause between, so concurrent invocations overlap."""
    keys = event.get("keys", [])
    first = {key: os.environ.get(key) for key in keys}
    time.sleep(float(event.get("pause", 0)))
    second = {key: os.environ.get(key) for key in keys}
    return {"first": first, "second": second, "function": context.function_name}


def slow(event: Any, context: Any) -> dict[str, Any]:
    """Blocks until the test releases it (an asynchronous invoke must not wait for this)."""
    released = RELEASE.wait(timeout=10)
    ASYNC_DONE.append({"event": event, "released": released})
    return {"released": released}


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


def callback(event: Any, context: Any) -> dict[str, Any]:
    """A callback agent that answers before (or instead of) the waiter listening.

    event: ``token``; ``heartbeat`` (send SendTaskHeartbeat first); ``mode``: ``succeed``,
    ``fail``, ``fail_first`` (fail attempts below ``failures``, default 1, and leave later ones
    waiting) or ``none``; ``attempt`` (``$$.State.RetryCount``); ``error``/``cause`` for failures.
    """
    token = event["token"]
    TOKENS.append(token)
    if event.get("heartbeat"):
        try:
            _sfn().send_task_heartbeat(taskToken=token)
            HEARTBEATS.append("ok")
        except ClientError as error:
            HEARTBEATS.append(error.response["Error"]["Code"])
            raise
    mode = event.get("mode", "succeed")
    failing = mode == "fail" or (
        mode == "fail_first" and int(event.get("attempt", 0)) < int(event.get("failures", 1))
    )
    if failing:
        _sfn().send_task_failure(
            taskToken=token, error=event.get("error", "Transient"), cause=event.get("cause", "first try")
        )
    elif mode == "succeed":
        _sfn().send_task_success(taskToken=token, output=json.dumps({"answered": token[:8]}))
    return {"accepted": True}
