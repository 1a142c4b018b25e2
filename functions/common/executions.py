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
    execution: dict[str, Any] | None, *, name: str | None, status: str | None, field: str
) -> str | None:
    """Why an event about ``execution`` must be refused (None if it may be believed).

    ``status`` None accepts any status; a RUNNING event is believed of any existing
    execution (EventBridge may deliver the start after the end).
    """
    if execution is None:
        return f"{field}: no such execution"
    if name is not None and execution.get("name") != name:
        return f"{field}: the execution is named {execution.get('name')!r}, not {name!r}"
    if status not in (None, "RUNNING") and execution.get("status") != status:
        return f"{field}: the execution is {execution.get('status')}, not {status}"
    return None


def require(execution_arn: str, *, name: str | None = None, status: str | None = None, field: str) -> None:
    """Raise ``InvalidRequest`` (never retried) unless the execution is as the event says."""
    reason = refusal(described(execution_arn), name=name, status=status, field=field)
    if reason is not None:
        raise InvalidRequest(reason)
