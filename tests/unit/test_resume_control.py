"""``functions.control.resume``: the cases the embedded stack cannot stage (a concurrent resume
winning the start, a rollback that failed too) and the input a rollback starts with."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.control.resume import RollbackFailed, SagaNotResumable, SagaResume, rollback_document

pytestmark = pytest.mark.unit

ROLLBACK = "arn:aws:states:us-east-1:1:stateMachine:S-test-generation-rollback"
FAILED_SAGA = {
    "status": "FAILED",
    "error": "CompensationFailed",
    "input": json.dumps({"request": {"project": "p"}, "faults": {"X": {}}}),
}


class _Sfn:
    """Step Functions holding at most one rollback execution, ``existing``."""

    def __init__(self, existing: dict[str, Any] | None = None, *, started_meanwhile: bool = False) -> None:
        self.existing = existing
        self.started_meanwhile = started_meanwhile  # another resume starts it between look and start
        self.starts: list[dict[str, Any]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if self.existing is None:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "m"}}, "Describe")
        return {"executionArn": executionArn, **self.existing}

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.starts.append(kwargs)
        if self.started_meanwhile:
            self.existing = {"status": "RUNNING"}
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "m"}}, "Start")
        self.existing = {"status": "RUNNING"}
        return {"executionArn": f"{ROLLBACK}:{kwargs['name']}"}


def _resume(sfn: _Sfn, monkeypatch: pytest.MonkeyPatch, arn: str | None = ROLLBACK) -> SagaResume:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resume = SagaResume("test-generation", arn)
    resume._sfn = sfn
    return resume


def test_a_resume_starts_the_rollback_under_the_saga_id_without_its_faults(monkeypatch):
    sfn = _Sfn()
    answer = _resume(sfn, monkeypatch).resume("s1", FAILED_SAGA)
    assert sfn.starts == [
        {"stateMachineArn": ROLLBACK, "name": "s1", "input": json.dumps({"request": {"project": "p"}})}
    ]
    assert answer["rollback"]["status"] == "RUNNING"
    assert (
        answer["rollback"]["execution_arn"]
        == "arn:aws:states:us-east-1:1:execution:S-test-generation-rollback:s1"
    )


def test_a_resume_that_loses_the_start_to_another_answers_that_rollback(monkeypatch):
    sfn = _Sfn(started_meanwhile=True)
    answer = _resume(sfn, monkeypatch).resume("s1", FAILED_SAGA)
    assert len(sfn.starts) == 1 and answer["rollback"]["status"] == "RUNNING"


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_an_existing_rollback_is_answered_without_a_start(monkeypatch, status):
    sfn = _Sfn({"status": status})
    assert _resume(sfn, monkeypatch).resume("s1", FAILED_SAGA)["rollback"]["status"] == status
    assert sfn.starts == []


def test_a_rollback_that_failed_too_is_refused_with_what_to_do(monkeypatch):
    sfn = _Sfn({"status": "FAILED", "error": "CompensationFailed"})
    with pytest.raises(RollbackFailed, match=r"ended FAILED \(CompensationFailed\).*stepsaga resume s1"):
        _resume(sfn, monkeypatch).resume("s1", FAILED_SAGA)
    assert sfn.starts == []


@pytest.mark.parametrize(
    ("saga", "arn", "fragment"),
    [
        ({"status": "RUNNING"}, ROLLBACK, "still running"),
        ({"status": "SUCCEEDED"}, ROLLBACK, "nothing to undo"),
        (FAILED_SAGA, None, "no rollback machine"),
        # Its input was refused: nothing was written, and the rollback would fail on the same input.
        (
            {"status": "FAILED", "error": "InvalidRequest", "input": "{}"},
            ROLLBACK,
            r"FAILED \(InvalidRequest\)",
        ),
        ({"status": "FAILED", "error": "SagaRolledBack", "input": "{}"}, ROLLBACK, "nothing to resume"),
        ({"status": "ABORTED", "input": "[]"}, ROLLBACK, "not a JSON object"),
    ],
)
def test_a_saga_that_cannot_be_resumed_is_refused_and_nothing_starts(monkeypatch, saga, arn, fragment):
    sfn = _Sfn()
    with pytest.raises(SagaNotResumable, match=fragment):
        _resume(sfn, monkeypatch, arn).resume("s1", saga)
    assert sfn.starts == []


def test_a_childs_rollback_input_drops_what_step_functions_added():
    document = {"request": {"project": "p"}, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "arn:parent"}
    assert rollback_document(json.dumps(document)) == {"request": {"project": "p"}}


def test_a_child_whose_parent_rollback_failed_is_told_so_not_that_it_succeeded(monkeypatch):
    sfn = _Sfn({"status": "FAILED", "error": "CompensationFailed"})  # the parent's rollback of it
    with pytest.raises(RollbackFailed, match="ended FAILED"):
        _resume(sfn, monkeypatch).resume("s1", {"status": "SUCCEEDED", "input": "{}"})
    assert sfn.starts == []


@pytest.mark.parametrize("status", ["TIMED_OUT", "ABORTED"])
def test_a_saga_stopped_mid_way_is_resumed(monkeypatch, status):
    sfn = _Sfn()
    saga = {"status": status, "input": json.dumps({"request": {"project": "p"}})}
    assert _resume(sfn, monkeypatch).resume("s1", saga)["rollback"]["status"] == "RUNNING"
    assert len(sfn.starts) == 1
