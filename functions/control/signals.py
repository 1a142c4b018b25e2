"""Signals (approve, cancel, set_priority) and the status query, as library functions.

Every signal is checked against the saga's real state first: a saga that does not exist,
has finished, or is not waiting gets a typed error and nothing changes. Approve and cancel
take the gate's task token with one conditional write, so two concurrent signals cannot
both succeed.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions import audit
from functions.common import arns, aws
from functions.common.store import COMPENSATED, DynamoSagaStore
from functions.control.progress import CANCELLED_ERROR, GATE, Progress, progress, results, step_events
from functions.control.records import APPROVED, AWAITING_APPROVAL, CANCELLED, SagaRecords

PRIORITIES = ("low", "normal", "high")
_CREATED = ("scenarios", "tests", "runs", "artifacts", "reports")


class SignalError(Exception):
    """A signal that cannot be applied; the API maps these to 4xx answers."""

    status_code = 409


class SagaNotFound(SignalError):
    status_code = 404


class SagaFinished(SignalError):
    pass


class SagaNotWaiting(SignalError):
    pass


class SagaControl:
    """Signals and queries for the sagas of one state machine."""

    def __init__(
        self,
        state_machine_arn: str,
        records: SagaRecords,
        store: DynamoSagaStore,
        steps: list[str],
        *,
        audit_table: str | None = None,
    ) -> None:
        """``audit_table`` (default: ``AUDIT_TABLE``) is where status learns which steps succeeded."""
        self.state_machine_arn = state_machine_arn
        self._records = records
        self._store = store
        self._steps = steps
        self._audit_table = audit_table or audit.table_from_env()
        self._sfn = aws.client("stepfunctions")

    def execution_arn(self, saga_id: str) -> str:
        return arns.execution_arn(self.state_machine_arn, saga_id)

    def _describe(self, saga_id: str) -> dict[str, Any]:
        try:
            return dict(self._sfn.describe_execution(executionArn=self.execution_arn(saga_id)))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                raise SagaNotFound(f"no saga {saga_id!r}") from error
            raise

    def _running(self, saga_id: str) -> dict[str, Any]:
        described = self._describe(saga_id)
        if described["status"] != "RUNNING":
            raise SagaFinished(f"saga {saga_id!r} has finished ({described['status']})")
        return described

    # -- signals ---------------------------------------------------------------------------
    def approve(
        self, saga_id: str, *, sender: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        """Approve a waiting saga; ``comment`` is kept with the signal (status, audit record)."""
        self._running(saga_id)
        comment = comment.strip() or None if comment else None
        token = self._records.take_token(
            saga_id, APPROVED, {"signal": "approve", "by": sender, "comment": comment}
        )
        if token is None:
            raise SagaNotWaiting(f"saga {saga_id!r} is not waiting for approval")
        received = audit.now_ms()
        self._answer(
            saga_id, token, lambda: self._sfn.send_task_success(taskToken=token, output='{"approved": true}')
        )
        audit.signal(saga_id, "approve", sender, at_ms=received, comment=comment and audit.text(comment))
        return {"saga_id": saga_id, "signal": "approve", **({"comment": comment} if comment else {})}

    def cancel(self, saga_id: str, reason: str, *, sender: str | None = None) -> dict[str, Any]:
        if not reason.strip():
            raise ValueError("a cancel needs a reason")
        self._running(saga_id)
        token = self._records.take_token(
            saga_id, CANCELLED, {"signal": "cancel", "by": sender, "reason": reason}
        )
        if token is None:
            raise SagaNotWaiting(
                f"saga {saga_id!r} is not waiting for approval; only a waiting saga can be cancelled"
            )
        received = audit.now_ms()
        self._answer(
            saga_id,
            token,
            lambda: self._sfn.send_task_failure(taskToken=token, error=CANCELLED_ERROR, cause=reason[:1000]),
        )
        audit.signal(saga_id, "cancel", sender, at_ms=received, reason=audit.text(reason))
        return {"saga_id": saga_id, "signal": "cancel", "reason": reason}

    def _answer(self, saga_id: str, token: str, send: Any) -> None:
        """Answer the gate's token. If the gate is already over (it timed out while the signal
        was on its way), say so; if the call failed for another reason, put the token back so
        the saga is still waiting and the signal can be sent again."""
        try:
            send()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise SagaNotWaiting(f"saga {saga_id!r} is no longer waiting (its gate has ended)") from error
            self._records.restore_token(saga_id, token)
            raise

    def set_priority(self, saga_id: str, priority: str, *, sender: str | None = None) -> dict[str, Any]:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
        self._running(saga_id)
        received = audit.now_ms()
        self._records.set_priority(
            saga_id, priority, {"signal": "set_priority", "by": sender, "priority": priority}
        )
        audit.signal(saga_id, "set_priority", sender, at_ms=received, priority=priority)
        return {"saga_id": saga_id, "signal": "set_priority", "priority": priority}

    # -- query -----------------------------------------------------------------------------
    def status(self, saga_id: str) -> dict[str, Any]:
        """Where a saga is, from DynamoDB and DescribeExecution (never the full history): which
        steps succeeded, the one in progress and why it failed from the audit record and the
        saga's record (``functions.control.progress``); what each step created from the ledger."""
        described = self._describe(saga_id)
        record = self._records.public(saga_id)
        ledger = self._store.ledger(saga_id)
        waiting = record.get("status") == AWAITING_APPROVAL and described["status"] == "RUNNING"
        if self._audit_table:
            where = progress(self._steps, step_events(self._audit_table, saga_id), described, record)
        else:
            where = self._from_ledger(ledger, described, record, waiting)
        summary = {
            step: {
                "status": entry.get("status"),
                **{
                    kind: len(entry.get(f"created_{kind}", []))
                    for kind in _CREATED
                    if entry.get(f"created_{kind}")
                },
            }
            for step, entry in ledger.items()
        }
        return {
            "saga_id": saga_id,
            "status": described["status"],
            "current_step": where.current,
            "completed_steps": where.completed,
            "failure": where.failure,
            "ledger": summary,
            "exists_now": {
                step: counts for step, counts in summary.items() if counts.get("status") != COMPENSATED
            },
            "priority": record.get("priority", "normal"),
            "approval_pending": waiting,
            "signals": record.get("signals", []),
            "outcome": None
            if described["status"] == "RUNNING"
            else {
                "status": described["status"],
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
            # What the saga found (pass rate, failed tests, proposals), once it has ended.
            "results": None
            if described["status"] == "RUNNING"
            else results(self._store.items("reports", saga_id)),
        }

    def _from_ledger(
        self, ledger: dict[str, Any], described: dict[str, Any], record: dict[str, Any], waiting: bool
    ) -> Progress:
        """Without an audit record, the steps are read off the ledger: an approximation, since a
        step that failed after writing (or was fenced) has an entry as one that succeeded does."""
        remaining = [s for s in self._steps if s not in ledger]
        current = GATE if waiting else next(iter(remaining), None)
        return Progress(
            [s for s in self._steps if s in ledger],
            current if described["status"] == "RUNNING" else None,
            progress(self._steps, [], described, record).failure,
        )
