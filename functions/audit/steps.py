"""``lambda_handler``, the wrapper of every Lambda handler: saga keys on every log line, tracing,
and the saga task's step events: started, then succeeded/failed/compensated.

It lives here, above ``functions.common``, so the base layer (Powertools set-up) does not
depend on the audit that records what its handlers do.

A callback step (its event carries a task token) reports its own outcome with
``SendTaskSuccess``/``SendTaskFailure`` and returns nothing, and it catches its own errors;
the wrapper learns that outcome from a botocore hook on the Step Functions client, which
fires only inside the invocation that holds the same token (a thread-local scope).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from functions import audit
from functions.common import aws
from functions.common.names import METRIC_STEP_FAILED
from functions.common.observability import logger, metric, tracer, tracing_enabled

COMPENSATE_PREFIX = "Compensate"
_local = threading.local()
_hooked: set[int] = set()
_hook_lock = threading.Lock()
_F = TypeVar("_F", bound=Callable[..., Any])
Handler = Callable[[dict[str, Any], Any], Any]


def lambda_handler(fn: Handler) -> Handler:
    """Wrap a handler with the cross-cutting Powertools behaviour and its step events.

    Step events are written only when ``AUDIT_TABLE`` is set; a StepFailed metric (by step and
    error) is emitted whenever a saga task fails.
    """

    @functools.wraps(fn)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        ctx = event.get("context") if isinstance(event, dict) else None
        keys: dict[str, object] = {"function_request_id": getattr(context, "aws_request_id", None)}
        if isinstance(ctx, dict):
            keys.update({k: ctx.get(k) for k in ("saga_id", "execution_arn", "state", "attempt")})
        logger.thread_safe_append_keys(**keys)
        scope = begin(event)
        try:
            if tracing_enabled():
                result = tracer().capture_lambda_handler(fn)(event, context)
            else:
                result = fn(event, context)
        except Exception as error:
            failed(scope, type(error).__name__, str(error))
            raise
        else:
            succeeded(scope, result)
            return result
        finally:
            end(scope)
            logger.thread_safe_clear_keys()

    return wrapper


def _never_raises(fn: _F) -> _F:
    """The audit must never change what a handler does: its own failures are only logged."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            logger.exception("audit hook failed", extra={"hook": fn.__name__})
            return None

    return guarded  # type: ignore[return-value]


@dataclass
class StepScope:
    saga_id: str
    state: str
    attempt: int
    execution_arn: str | None
    task_token: str | None
    item: str | None
    audited: bool
    reported: bool = False

    @property
    def compensation(self) -> bool:
        return self.state.startswith(COMPENSATE_PREFIX) and len(self.state) > len(COMPENSATE_PREFIX)

    @property
    def step(self) -> str:
        return self.state.removeprefix(COMPENSATE_PREFIX) if self.compensation else self.state

    def fields(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": self.state,
            "attempt": self.attempt,
            "execution_arn": self.execution_arn,
            "item": self.item,
        }


@_never_raises
def begin(event: Any) -> StepScope | None:
    """The scope of a saga task's invocation (None for other events); records its start."""
    ctx = event.get("context") if isinstance(event, dict) else None
    if not isinstance(ctx, dict) or not ctx.get("saga_id") or not ctx.get("state"):
        return None
    try:
        attempt = int(ctx.get("attempt") or 0)
    except (TypeError, ValueError):
        attempt = 0
    item = event.get("item")
    scope = StepScope(
        saga_id=str(ctx["saga_id"]),
        state=str(ctx["state"]),
        attempt=attempt,
        execution_arn=ctx.get("execution_arn"),
        task_token=ctx.get("task_token") or None,
        item=None if item is None else audit.text(item),
        audited=audit.table_from_env() is not None,
    )
    if scope.task_token:
        _hook_callbacks()
    if scope.audited:
        kind = audit.COMPENSATION_STARTED if scope.compensation else audit.STEP_STARTED
        audit.safely(scope.saga_id, kind, **scope.fields(), **(_caught(event) if scope.compensation else {}))
    _local.stack = [*_stack(), scope]  # nested invocations in one thread each keep their own scope
    return scope


def _caught(event: dict[str, Any]) -> dict[str, Any]:
    """The error the rollback began with (the Catch's ``$.error`` in a compensation's input):
    the status query names it, even a timeout no handler saw."""
    caught = (event.get("saga") or {}).get("error")
    if not isinstance(caught, dict) or not caught.get("Error"):
        return {}
    cause = audit.text(caught.get("Cause") or "") or None
    return {"rollback_error": audit.text(caught["Error"]), "rollback_cause": cause}


@_never_raises
def succeeded(scope: StepScope | None, result: Any) -> None:
    if scope is None or scope.reported:
        return
    if scope.task_token:
        return  # a callback step's outcome is what it reports (or its timeout), not its return
    if not scope.audited:
        return
    if scope.compensation:
        audit.safely(scope.saga_id, audit.STEP_COMPENSATED, undone=audit.bounded(result), **scope.fields())
    else:
        audit.safely(scope.saga_id, audit.STEP_SUCCEEDED, **scope.fields())


@_never_raises
def failed(scope: StepScope | None, error_type: str, message: str) -> None:
    if scope is None or scope.reported:
        return
    scope.reported = True
    metric(METRIC_STEP_FAILED, step=scope.state, error=error_type)
    if scope.audited:
        kind = audit.COMPENSATION_FAILED if scope.compensation else audit.STEP_FAILED
        audit.safely(
            scope.saga_id, kind, error=error_type, message=audit.text(message) or None, **scope.fields()
        )


def _stack() -> list[StepScope]:
    return list(getattr(_local, "stack", None) or [])


def end(scope: StepScope | None) -> None:
    if scope is not None:
        _local.stack = [s for s in _stack() if s is not scope]


def current() -> StepScope | None:
    stack = _stack()
    return stack[-1] if stack else None


# -- callback outcomes ----------------------------------------------------------------------------
@_never_raises
def _on_task_success(params: dict[str, Any], **_: Any) -> None:
    scope = current()
    if scope is None or scope.reported or params.get("taskToken") != scope.task_token:
        return
    scope.reported = True
    if scope.audited:
        audit.safely(scope.saga_id, audit.STEP_SUCCEEDED, **scope.fields())


@_never_raises
def _on_task_failure(params: dict[str, Any], **_: Any) -> None:
    scope = current()
    if scope is None or scope.reported or params.get("taskToken") != scope.task_token:
        return
    failed(scope, str(params.get("error") or "Unknown"), str(params.get("cause") or ""))


def _hook_callbacks() -> None:
    """Register the outcome hooks once per Step Functions client (clients are cached per endpoint)."""
    client = aws.client("stepfunctions")
    with _hook_lock:
        if id(client) in _hooked:
            return
        _hooked.add(id(client))
    events = client.meta.events
    events.register("provide-client-params.sfn.SendTaskSuccess", _on_task_success, "stepsaga-audit-ok")
    events.register("provide-client-params.sfn.SendTaskFailure", _on_task_failure, "stepsaga-audit-fail")
