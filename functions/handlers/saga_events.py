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
"""

from __future__ import annotations

import os
from typing import Any

from functions import audit
from functions.audit import active
from functions.common.observability import lambda_handler, logger, metric

DETAIL_TYPE = "Step Functions Execution Status Change"
PREFIX_ENV = "STATE_MACHINE_PREFIX"  # "<stack name>-": what the stack puts before every machine name
ROLLED_BACK_ERROR = "SagaRolledBack"
COMPENSATION_FAILED_ERROR = "CompensationFailed"


def saga_type(state_machine_arn: str, prefix: str | None = None) -> str:
    """``arn:...:stateMachine:StepSaga-test-generation`` -> ``test-generation``."""
    name = state_machine_arn.split(":")[6] if state_machine_arn.count(":") >= 6 else state_machine_arn
    prefix = os.environ.get(PREFIX_ENV, "") if prefix is None else prefix
    if prefix and name.startswith(prefix):
        return name[len(prefix) :]
    return name


def outcome_metric(status: str, error: str | None) -> str:
    if status == "RUNNING":
        return "SagasStarted"
    if status == "SUCCEEDED":
        return "SagasSucceeded"
    if status == "FAILED" and error == ROLLED_BACK_ERROR:
        return "SagasRolledBack"
    if status == "FAILED" and error == COMPENSATION_FAILED_ERROR:
        return "SagasCompensationFailed"
    return "SagasFailed"


def process(detail: dict[str, Any]) -> dict[str, Any]:
    status = str(detail.get("status") or "")
    if status != active.RUNNING and status not in active.TERMINAL:
        return {"ignored": status}
    execution_arn = str(detail["executionArn"])
    saga_id = str(detail.get("name") or execution_arn.rsplit(":", 1)[-1])
    kind = saga_type(str(detail["stateMachineArn"]))
    redrives = int(detail.get("redriveCount") or 0)

    change = active.apply(kind, execution_arn, status, redrive_count=redrives)
    if change.applied:
        metric(outcome_metric(status, detail.get("error")), saga_type=kind)
    if change.count is not None:
        metric("ActiveSagas", change.count, saga_type=kind)

    if audit.table_from_env():
        key = audit.stable_suffix(execution_arn, redrives, status)
        if status == active.RUNNING:
            audit.append(
                saga_id,
                audit.SAGA_STARTED,
                at_ms=detail.get("startDate"),
                key=key,
                saga_type=kind,
                execution_arn=execution_arn,
                redrive_count=redrives or None,
            )
        else:
            audit.append(
                saga_id,
                audit.SAGA_FINISHED,
                at_ms=detail.get("stopDate") or audit.now_ms(),
                key=key,
                saga_type=kind,
                execution_arn=execution_arn,
                status=status,
                error=detail.get("error"),
                cause=audit.text(detail["cause"]) if detail.get("cause") else None,
            )
    logger.info("saga status", extra={"saga_id": saga_id, "status": status, "applied": change.applied})
    return {
        "saga_id": saga_id,
        "saga_type": kind,
        "status": status,
        "applied": change.applied,
        "active": change.count,
    }


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("detail-type") != DETAIL_TYPE or not isinstance(event.get("detail"), dict):
        logger.warning("not an execution status change", extra={"detail_type": event.get("detail-type")})
        return {"ignored": event.get("detail-type")}
    return process(event["detail"])
