"""The Lambda handlers the conformance cases invoke, by name (``tests.conformance.handlers.<name>``).

The same module runs in-process on the embedded stack and, zipped, on AWS Lambda (``--target aws``),
so it imports only the standard library and boto3 at the top, and keeps no state between invokes:
what a handler does is decided by its event (``$$.State.RetryCount`` for retries).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

LIMIT_BYTES = 256 * 1024  # Step Functions' payload quota


def _raise(error: str, message: str) -> None:
    # The Lambda runtime reports an unhandled exception's class name as the error.
    raise type(error, (Exception,), {})(message)


def echo(event: Any, context: Any) -> Any:
    return event


def fail(event: dict[str, Any], context: Any) -> Any:
    """Raise ``error`` with ``message``."""
    _raise(event.get("error", "CustomError"), event.get("message", "failed on purpose"))


def fail_attempts(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Attempt ``attempt`` (``$$.State.RetryCount``) raises ``errors[attempt]``; later ones succeed."""
    attempt, errors = int(event["attempt"]), list(event["errors"])
    if attempt < len(errors):
        _raise(errors[attempt], f"attempt {attempt}")
    return {"attempts": attempt + 1}


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event["seconds"]))
    return {"slept": event["seconds"]}


def agent(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A callback agent that accepts the work and answers later (the case's driver answers)."""
    return {"accepted": True}


def large_bytes(event: Any, context: Any) -> bytes:
    """More than the payload quota, returned as bytes (the Lambda runtime passes bytes through)."""
    return b"a" * (LIMIT_BYTES + 1024)


def large_string(event: Any, context: Any) -> str:
    """More than the payload quota, returned as a JSON string."""
    return "a" * (LIMIT_BYTES + 1024)


def answer_parent(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Inside a child execution: SendTaskSuccess with the parent's ``.sync`` task token, ``after``
    seconds of work."""
    import boto3

    time.sleep(float(event.get("after", 0)))
    sfn = boto3.client("stepfunctions", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    sfn.send_task_success(taskToken=event["token"], output=json.dumps(event["output"]))
    return {"answered": True}


def service_name(event: Any, context: Any) -> str:
    """The service name the app's Powertools Logger logs under in this function."""
    from functions.common.observability import logger

    return str(logger.service)
