"""What Step Functions says of an execution, for functions that must not act on a forged event."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.errors import InvalidRequest


def described(execution_arn: str) -> dict[str, Any] | None:
    """``DescribeExecution``, or None if there is no such execution."""
    try:
        return dict(aws.client("stepfunctions").describe_execution(executionArn=execution_arn))
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise


def refusal(
    execution: dict[str, Any] | None,
    *,
    name: str | None,
    status: str | None,
    field: str,
    redrive_count: int | None = None,
    strict: bool = False,
) -> str | None:
    """Why an event about ``execution`` must be refused (None if it may be believed).

    ``status`` None accepts any status. Unless ``strict``, a RUNNING event is believed of any
    existing execution (EventBridge may deliver the start after the end), and so is an event
    of an earlier run of a redriven execution (its ``redrive_count`` is lower than now).
    """
    if execution is None:
        return f"{field}: no such execution"
    if name is not None and execution.get("name") != name:
        return f"{field}: the execution is named {execution.get('name')!r}, not {name!r}"
    if status is None or execution.get("status") == status:
        return None
    if not strict:
        if status == "RUNNING":
            return None
        if redrive_count is not None and int(execution.get("redriveCount") or 0) > redrive_count:
            return None  # that run is over: a redrive started another
    return f"{field}: the execution is {execution.get('status')}, not {status}"


def require(
    execution_arn: str,
    *,
    name: str | None = None,
    status: str | None = None,
    field: str,
    redrive_count: int | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """The execution's description; raises ``InvalidRequest`` unless it is as the event says
    (see ``refusal``).

    The saga's Retry does not retry it; a caller's own retries (an asynchronous invoke's)
    meet the same answer.
    """
    execution = described(execution_arn)
    reason = refusal(
        execution,
        name=name,
        status=status,
        field=field,
        redrive_count=redrive_count,
        strict=strict,
    )
    if reason is not None or execution is None:
        raise InvalidRequest(reason or f"{field}: no such execution")
    return execution
