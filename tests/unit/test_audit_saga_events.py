"""functions/audit/saga_events.py: what an execution status change means for the saga lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from functions import audit
from functions.audit.saga_events import (
    PREFIX_ENV,
    StatusChange,
    audit_event,
    outcome_metric,
    saga_type,
    status_change,
)

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:StepSaga-test-generation"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:StepSaga-test-generation:s-1"


def _detail(status: str, **extra: Any) -> dict[str, Any]:
    return {"stateMachineArn": MACHINE, "executionArn": EXECUTION, "status": status, **extra}


def test_the_saga_type_is_the_machine_name_without_the_stack_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert saga_type(MACHINE, "StepSaga-") == "test-generation"
    assert saga_type(MACHINE, "Other-") == "StepSaga-test-generation"
    assert saga_type("just-a-name", "") == "just-a-name"
    monkeypatch.setenv(PREFIX_ENV, "StepSaga-")
    assert saga_type(MACHINE) == "test-generation"


@pytest.mark.parametrize(
    ("status", "error", "metric"),
    [
        ("RUNNING", None, "SagasStarted"),
        ("SUCCEEDED", None, "SagasSucceeded"),
        ("FAILED", "SagaRolledBack", "SagasRolledBack"),
        ("FAILED", "CompensationFailed", "SagasCompensationFailed"),
        ("FAILED", "States.Runtime", "SagasFailed"),
        ("TIMED_OUT", None, "SagasFailed"),
        ("ABORTED", None, "SagasFailed"),
    ],
)
def test_each_outcome_has_its_metric(status: str, error: str | None, metric: str) -> None:
    assert outcome_metric(status, error) == metric


@pytest.mark.parametrize("status", ["PENDING_REDRIVE", "", "WHATEVER"])
def test_statuses_outside_the_lifecycle_are_ignored(status: str) -> None:
    assert status_change(_detail(status), "") is None


def test_a_change_names_its_saga_by_the_execution_name_or_the_arn() -> None:
    named = status_change(_detail("RUNNING", name="my-saga", startDate=5, redriveCount=2), "StepSaga-")
    assert named == StatusChange(
        saga_id="my-saga",
        saga_type="test-generation",
        execution_arn=EXECUTION,
        status="RUNNING",
        redrive_count=2,
        error=None,
        cause=None,
        start_ms=5,
        stop_ms=None,
    )
    unnamed = status_change(_detail("SUCCEEDED"), "StepSaga-")
    assert unnamed is not None and unnamed.saga_id == "s-1" and unnamed.redrive_count == 0


def _change(status: str, **extra: Any) -> StatusChange:
    change = status_change(_detail(status, **extra), "StepSaga-")
    assert change is not None
    return change


def test_a_start_is_audited_at_its_start_date() -> None:
    kind, fields = audit_event(_change("RUNNING", startDate=5), now_ms=99)
    assert kind == audit.SAGA_STARTED
    assert (fields["at_ms"], fields["saga_type"]) == (5, "test-generation")
    assert fields["execution_arn"] == EXECUTION
    assert fields["redrive_count"] is None  # only a redriven execution records its count
    assert audit_event(_change("RUNNING", redriveCount=1), now_ms=99)[1]["redrive_count"] == 1


def test_an_end_is_audited_with_its_outcome_at_its_stop_date_or_now() -> None:
    kind, fields = audit_event(
        _change("FAILED", stopDate=7, error="SagaRolledBack", cause="x" * 5000), now_ms=99
    )
    assert kind == audit.SAGA_FINISHED
    assert (fields["at_ms"], fields["status"], fields["error"]) == (7, "FAILED", "SagaRolledBack")
    assert fields["cause"] == audit.text("x" * 5000) and len(fields["cause"]) < 5000
    assert audit_event(_change("ABORTED"), now_ms=99)[1]["at_ms"] == 99
    assert audit_event(_change("SUCCEEDED"), now_ms=99)[1]["cause"] is None


def test_the_key_is_the_same_for_a_redelivery_and_differs_per_status_and_redrive() -> None:
    def key(status: str, **extra: Any) -> str:
        return str(audit_event(_change(status, **extra), now_ms=1)[1]["key"])

    assert key("RUNNING") == key("RUNNING", startDate=9)
    assert len({key("RUNNING"), key("SUCCEEDED"), key("RUNNING", redriveCount=1)}) == 3
