"""Resume a saga whose rollback stopped (``CompensationFailed``): run its rollback machine.

The rollback machine (``statemachines.parent.compile_rollback``) is the saga's compensation
chain alone. It is started under the saga's own id, since its compensations read the saga id
from ``$$.Execution.Name``, with the saga's input minus ``faults``: a resume is what an
operator runs once the cause is fixed, so an injected fault must not fail it again. Every
compensation is idempotent (the ledger's COMPENSATING -> COMPENSATED), so the steps the saga
already undid are skipped. It is the same on AWS and on the embedded stack, which has no
RedriveExecution.

One rollback per saga: Step Functions keeps an execution name for 90 days, so a second resume
answers the rollback the first started, running or ended. A rollback that itself failed is
finished step by step (``stepsaga resume <id>`` on the embedded stack; docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions import audit
from functions.common import arns, aws
from functions.common.names import COMPENSATION_FAILED
from functions.control.signals import SignalError

# RUNNING is still compensating; SUCCEEDED has nothing to undo.
RESUMABLE = ("FAILED", "TIMED_OUT", "ABORTED")
# Set by Step Functions on a child's input (a parent's startExecution.sync): not the saga's.
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


class SagaNotResumable(SignalError):
    """A saga that is running, succeeded, or has no rollback machine."""


class RollbackFailed(SignalError):
    """The saga's rollback already ran and failed: a new resume cannot start it again."""


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else None if moment is None else str(moment)


def rollback_document(saga_input: str | None) -> dict[str, Any] | None:
    """The input a rollback starts with: the saga's own, without its injected faults (None when
    the saga's input is not a JSON object: no saga's)."""
    document = json.loads(saga_input or "{}")
    if not isinstance(document, dict):
        return None
    return {key: value for key, value in document.items() if key not in ("faults", STARTED_BY)}


class SagaResume:
    """Resumes and reads the rollbacks of one saga machine's sagas."""

    def __init__(self, machine: str, rollback_machine_arn: str | None) -> None:
        self.machine = machine
        self.rollback_machine_arn = rollback_machine_arn
        self._sfn = aws.client("stepfunctions")

    def rollback(self, saga_id: str) -> dict[str, Any] | None:
        """The saga's rollback execution (a resume's, or its parent's), None if none ran."""
        if not self.rollback_machine_arn:
            return None
        try:
            described = self._sfn.describe_execution(
                executionArn=arns.execution_arn(self.rollback_machine_arn, saga_id)
            )
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        return {
            "execution_arn": described["executionArn"],
            "status": described["status"],
            "start_date": _iso(described.get("startDate")),
            "stop_date": _iso(described.get("stopDate")),
            "error": described.get("error"),
            "cause": described.get("cause"),
        }

    def resume(self, saga_id: str, described: dict[str, Any], sender: str | None = None) -> dict[str, Any]:
        """Start the rollback of the saga ``described`` (DescribeExecution), or answer the one
        already started (by a resume, or by the saga's parent). Raises ``SagaNotResumable`` or
        ``RollbackFailed``. An accepted resume is in the saga's audit record, with ``sender``."""
        received = audit.now_ms()
        if not self.rollback_machine_arn:
            raise SagaNotResumable(
                f"machine {self.machine!r} has no rollback machine: nothing of its own to compensate"
            )
        # First the rollback: a parent may have run one for its succeeded child, and its outcome
        # is the answer whatever the saga's own status.
        found = self.rollback(saga_id)
        started = found is None
        if found is None:
            refusal = _refusal(saga_id, described)
            if refusal:
                raise SagaNotResumable(refusal)
            document = rollback_document(described.get("input"))
            if document is None:
                raise SagaNotResumable(f"saga {saga_id!r}: its input is not a JSON object, no saga's")
            try:
                self._sfn.start_execution(
                    stateMachineArn=self.rollback_machine_arn, name=saga_id, input=json.dumps(document)
                )
            except ClientError as error:
                # Another resume started it between the look and the start: answer that one.
                if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                    raise
            found = self.rollback(saga_id)
            if found is None:  # just started, by this resume or a concurrent one
                raise RuntimeError(f"the rollback of {saga_id!r} was started but cannot be described")
        elif found["status"] in RESUMABLE:
            raise RollbackFailed(
                f"saga {saga_id!r}: its rollback {found['execution_arn']} ended {found['status']} "
                f"({found.get('error') or '-'}) and a saga has one rollback; fix the cause, then "
                f"finish it step by step (embedded stack: stepsaga resume {saga_id}; "
                "AWS: docs/RELIABILITY.md)"
            )
        audit.signal(
            saga_id, "resume", sender, at_ms=received, rollback=found["execution_arn"], started=started
        )
        return {"saga_id": saga_id, "machine": self.machine, "rollback": found}


def _refusal(saga_id: str, described: dict[str, Any]) -> str | None:
    """Why the saga ``described`` has no rollback to finish, None if it has one: it ended
    CompensationFailed, or it timed out or was aborted mid-way (its compensations never ran)."""
    status, error = described["status"], described.get("error")
    if status == "SUCCEEDED":
        return f"saga {saga_id!r} is SUCCEEDED: there is nothing to undo"
    if status not in RESUMABLE:
        return (
            f"saga {saga_id!r} is {status}: it is still running (a rollback in progress finishes by itself)"
        )
    if status == "FAILED" and error != COMPENSATION_FAILED:
        # InputRejected wrote nothing; SagaRolledBack undid everything: a resume would only
        # fail on the same input, or find nothing to do.
        return (
            f"saga {saga_id!r} is FAILED ({error or '-'}): its rollback did not stop, so there is "
            f"nothing to resume (only a saga that ended {COMPENSATION_FAILED}, TIMED_OUT or ABORTED)"
        )
    return None
