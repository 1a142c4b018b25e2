"""Saga lifecycle from "Step Functions Execution Status Change" events (EventBridge on AWS,
``stepsaga.embedded.events`` on the embedded stack).

For each event of one of the stack's state machines:

- the audit record gets ``saga.started`` (RUNNING) or ``saga.finished`` with the outcome
  (SUCCEEDED, FAILED + error and cause, TIMED_OUT, ABORTED), keyed deterministically so a
  redelivered event is recorded once (``AUDIT_TABLE``);
- the ActiveSagas counter of the saga type moves +1/-1, at most once per execution
  (``ACTIVE_SAGAS_TABLE``, see ``functions.audit.active``) and is emitted as a metric;
- one of SagasStarted, SagasSucceeded, SagasRolledBack (FAILED with SagaRolledBack),
  SagasCompensationFailed, SagasFailed (any other end) is emitted, dimension ``saga_type``
  (the state machine name without the stack prefix), once per execution when the counter
  table is configured.

SagasCompensationFailed is what every saga's "compensation failed" alarm watches
(``infra.monitoring``): it comes from the execution's own end, whether or not
``ReportCompensationFailure`` ever ran. ``compensation_failed`` picks those ends out for the
handler, which sends the dead letter the reporter could not (``functions.handlers.saga_events``).

``status_change`` and ``audit_event`` are pure; ``process`` applies them to the tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from functions import audit
from functions.audit import active
from functions.common.names import (
    COMPENSATION_FAILED,
    METRIC_ACTIVE_SAGAS,
    METRIC_SAGAS_COMPENSATION_FAILED,
    METRIC_SAGAS_FAILED,
    METRIC_SAGAS_ROLLED_BACK,
    METRIC_SAGAS_STARTED,
    METRIC_SAGAS_SUCCEEDED,
)
from functions.common.names import ENV_STATE_MACHINE_PREFIX as PREFIX_ENV  # "<stack name>-"
from functions.common.observability import logger, metric

ROLLED_BACK_ERROR = "SagaRolledBack"
COMPENSATION_FAILED_ERROR = COMPENSATION_FAILED


@dataclass(frozen=True)
class StatusChange:
    """One execution's status change, as the audit and the counter see it."""

    saga_id: str
    saga_type: str
    execution_arn: str
    status: str
    redrive_count: int
    error: str | None
    cause: str | None
    start_ms: int | None
    stop_ms: int | None


def saga_type(state_machine_arn: str, prefix: str | None = None) -> str:
    """``arn:...:stateMachine:StepSaga-test-generation`` -> ``test-generation``."""
    name = state_machine_arn.split(":")[6] if state_machine_arn.count(":") >= 6 else state_machine_arn
    prefix = os.environ.get(PREFIX_ENV, "") if prefix is None else prefix
    if prefix and name.startswith(prefix):
        return name[len(prefix) :]
    return name


def outcome_metric(status: str, error: str | None) -> str:
    if status == "RUNNING":
        return METRIC_SAGAS_STARTED
    if status == "SUCCEEDED":
        return METRIC_SAGAS_SUCCEEDED
    if status == "FAILED" and error == ROLLED_BACK_ERROR:
        return METRIC_SAGAS_ROLLED_BACK
    if status == "FAILED" and error == COMPENSATION_FAILED_ERROR:
        return METRIC_SAGAS_COMPENSATION_FAILED
    return METRIC_SAGAS_FAILED


def status_change(detail: dict[str, Any], prefix: str | None = None) -> StatusChange | None:
    """The change an event's detail describes; None for a status the lifecycle ignores."""
    status = str(detail.get("status") or "")
    if status != active.RUNNING and status not in active.TERMINAL:
        return None
    execution_arn = str(detail["executionArn"])
    return StatusChange(
        saga_id=str(detail.get("name") or execution_arn.rsplit(":", 1)[-1]),
        saga_type=saga_type(str(detail["stateMachineArn"]), prefix),
        execution_arn=execution_arn,
        status=status,
        redrive_count=int(detail.get("redriveCount") or 0),
        error=detail.get("error"),
        cause=detail.get("cause") or None,
        start_ms=detail.get("startDate"),
        stop_ms=detail.get("stopDate"),
    )


def compensation_failed(detail: dict[str, Any], prefix: str | None = None) -> StatusChange | None:
    """The change, when the execution ended CompensationFailed (the saga needs a dead letter)."""
    change = status_change(detail, prefix)
    if change is None or change.status != "FAILED" or change.error != COMPENSATION_FAILED_ERROR:
        return None
    return change


def audit_event(change: StatusChange, now_ms: int) -> tuple[str, dict[str, Any]]:
    """The audit event type and ``audit.append`` arguments for a change.

    The key is deterministic (execution, redrive, status), so a redelivered event is recorded once.
    """
    key = audit.stable_suffix(change.execution_arn, change.redrive_count, change.status)
    if change.status == active.RUNNING:
        return audit.SAGA_STARTED, {
            "at_ms": change.start_ms,
            "key": key,
            "saga_type": change.saga_type,
            "execution_arn": change.execution_arn,
            "redrive_count": change.redrive_count or None,
        }
    return audit.SAGA_FINISHED, {
        "at_ms": change.stop_ms or now_ms,
        "key": key,
        "saga_type": change.saga_type,
        "execution_arn": change.execution_arn,
        "status": change.status,
        "error": change.error,
        "cause": audit.text(change.cause) if change.cause else None,
    }


def process(detail: dict[str, Any]) -> dict[str, Any]:
    """Count, measure and audit one status change (each part idempotent under redelivery)."""
    change = status_change(detail)
    if change is None:
        return {"ignored": str(detail.get("status") or "")}
    kind = change.saga_type
    event_type, fields = audit_event(change, audit.now_ms())
    record = audit.put_request(change.saga_id, event_type, **fields)  # None without AUDIT_TABLE
    counted = active.apply(
        kind, change.execution_arn, change.status, redrive_count=change.redrive_count, record=record
    )
    if counted.applied:
        metric(outcome_metric(change.status, change.error), saga_type=kind)
    if counted.count is not None:
        metric(METRIC_ACTIVE_SAGAS, counted.count, saga_type=kind)

    if record is not None and not counted.recorded:  # a change the counter ignored is audited too
        audit.append(change.saga_id, event_type, **fields)
    logger.info(
        "saga status", extra={"saga_id": change.saga_id, "status": change.status, "applied": counted.applied}
    )
    return {
        "saga_id": change.saga_id,
        "saga_type": kind,
        "status": change.status,
        "applied": counted.applied,
        "active": counted.count,
    }
