"""Signals answering an approval gate that may have ended on its own meanwhile, and the status
query's reading of the audit record (the cases the embedded stack cannot stage)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from functions.control import SagaControl, SagaNotWaiting
from functions.control.progress import progress

pytestmark = pytest.mark.unit


class _Records:
    def __init__(self) -> None:
        self.token: str | None = "token-1"
        self.restored: list[str] = []

    def take_token(self, saga_id: str, status: str, signal: dict) -> str | None:
        token, self.token = self.token, None
        return token

    def restore_token(self, saga_id: str, token: str) -> None:
        self.token = token
        self.restored.append(token)


class _Sfn:
    def __init__(self, code: str) -> None:
        self.code = code

    def describe_execution(self, executionArn: str) -> dict:
        return {"status": "RUNNING"}

    def send_task_success(self, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "m"}}, "SendTaskSuccess")


def _control(code: str, monkeypatch: pytest.MonkeyPatch) -> tuple[SagaControl, _Records]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    records = _Records()
    control = SagaControl("arn:aws:states:us-east-1:1:stateMachine:m", records, None, [])  # type: ignore[arg-type]
    control._sfn = _Sfn(code)
    return control, records


def test_approving_a_gate_that_timed_out_meanwhile_is_not_waiting_and_the_token_stays_spent(monkeypatch):
    control, records = _control("TaskTimedOut", monkeypatch)
    with pytest.raises(SagaNotWaiting, match="no longer waiting"):
        control.approve("s1")
    assert records.restored == [] and records.token is None


def test_a_signal_that_could_not_be_delivered_puts_the_token_back(monkeypatch):
    control, records = _control("ServiceUnavailable", monkeypatch)
    with pytest.raises(ClientError):
        control.approve("s1")
    assert records.restored == ["token-1"]  # the saga still waits; the signal can be resent


# -- status: progress from the audit record ----------------------------------------------------
STEPS = ["Requirements", "Generation", "Execution", "Observation"]


def _event(kind: str, state: str, **fields: str) -> dict:
    return {"type": kind, "state": state, **fields}


def _forward_until(state: str) -> list[dict]:
    events = []
    for step in STEPS[: STEPS.index(state)]:
        events += [_event("step.started", step), _event("step.succeeded", step)]
    return [*events, _event("step.started", state)]


def test_a_success_reported_by_a_step_that_then_timed_out_does_not_count():
    # Execution's audit says it succeeded, but its SendTaskSuccess came too late: the task timed out.
    events = [
        *_forward_until("Execution"),
        _event("step.succeeded", "Execution"),
        _event(
            "compensation.started", "CompensateExecution", rollback_error="States.Timeout", rollback_cause=""
        ),
    ]
    where = progress(STEPS, events, {"status": "RUNNING"}, {})
    assert where.completed == ["Requirements", "Generation"]
    assert where.current == "CompensateExecution"  # rolling back
    assert where.failure == {"step": "Execution", "error": "States.Timeout", "cause": None}


def test_a_step_that_failed_before_any_handler_ran_is_the_first_that_had_not_succeeded():
    # Execution's function could not be invoked (or a Map failed as a whole): no event of its own.
    events = [
        *_forward_until("Generation"),
        _event("step.succeeded", "Generation"),
        _event(
            "compensation.started", "CompensateGeneration", rollback_error="Lambda.TooManyRequestsException"
        ),
    ]
    where = progress(STEPS, events, {"status": "FAILED", "error": "SagaRolledBack"}, {})
    assert where.completed == ["Requirements", "Generation"]
    assert where.failure == {"step": "Execution", "error": "Lambda.TooManyRequestsException", "cause": None}


def test_a_gate_whose_handler_failed_before_it_recorded_the_wait_is_the_failed_step():
    events = [*_forward_until("Execution")[:-1], _event("step.started", "AwaitApproval")]
    where = progress(STEPS, events, {"status": "FAILED", "error": "SagaRolledBack"}, {})
    assert where.completed == ["Requirements", "Generation"] and where.failure["step"] == "AwaitApproval"


def test_a_timeout_after_a_failed_attempt_is_not_reported_with_the_old_attempts_message():
    events = [
        *_forward_until("Generation"),
        _event("step.failed", "Generation", error="AgentTransientError", message="attempt 1 failed"),
        _event("step.started", "Generation"),
        _event("compensation.started", "CompensateGeneration", rollback_error="States.Timeout"),
    ]
    where = progress(STEPS, events, {"status": "FAILED", "error": "SagaRolledBack"}, {})
    assert where.failure == {"step": "Generation", "error": "States.Timeout", "cause": None}
    assert where.current is None and where.completed == ["Requirements"]


def test_a_lambda_errors_cause_is_its_message_and_a_retry_in_progress_is_no_failure():
    lambda_cause = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []})
    events = [
        *_forward_until("Observation"),
        _event(
            "compensation.started",
            "CompensateExecution",
            rollback_error="ValueError",
            rollback_cause=lambda_cause,
        ),
    ]
    failed = progress(STEPS, events, {"status": "FAILED"}, {})
    assert failed.failure == {"step": "Observation", "error": "ValueError", "cause": "boom"}

    retrying = progress(
        STEPS, [*events[:-1], _event("step.failed", "Observation", error="E")], {"status": "RUNNING"}, {}
    )
    assert retrying.failure is None and retrying.current == "Observation"


def test_a_rejected_request_is_named_from_the_execution_itself():
    cause = json.dumps({"errorMessage": "user_stories: empty", "errorType": "InvalidRequest"})
    described = {"status": "FAILED", "error": "InvalidRequest", "cause": cause}
    where = progress(STEPS, [_event("step.started", "Requirements")], described, {})
    assert where.failure == {
        "step": "Requirements",
        "error": "InvalidRequest",
        "cause": "user_stories: empty",
    }
    assert where.completed == []


def test_without_an_audit_record_status_reads_the_ledger(monkeypatch):
    monkeypatch.delenv("AUDIT_TABLE", raising=False)
    control, _ = _control("unused", monkeypatch)
    control._steps = STEPS
    control._records = type("R", (), {"public": lambda self, saga_id: {}})()
    control._store = type("S", (), {"ledger": lambda self, saga_id: {"Requirements": {"status": "ACTIVE"}}})()
    status = control.status("s1")
    assert status["completed_steps"] == ["Requirements"] and status["current_step"] == "Generation"
