"""Bad input reaching a task directly (issue 12, section 6): each deployed function answers a
typed error the saga does not retry (``InvalidRequest``), and writes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from stepsaga.embedded import EmbeddedStack

pytestmark = pytest.mark.functional

WRITTEN = ("ledger", "scenarios", "tests", "runs", "sagas")


def _function(stack: EmbeddedStack, handler: str) -> str:
    for page in stack.client("lambda").get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function.get("Handler") == handler:
                return str(function["FunctionName"])
    raise LookupError(handler)


def _invoke(stack: EmbeddedStack, handler: str, event: dict[str, Any]) -> tuple[Any, str | None]:
    response = stack.client("lambda").invoke(
        FunctionName=_function(stack, handler),
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


def _event(request: dict[str, Any], saga_id: str, state: str, **context: Any) -> dict[str, Any]:
    return {
        "saga": {"request": request},
        "context": {"saga_id": saga_id, "execution_arn": f"arn:x:{saga_id}", "state": state, **context},
    }


def _nothing_written(stack: EmbeddedStack, saga_id: str) -> None:
    assert {kind: stack.items(kind, saga_id) for kind in WRITTEN} == {kind: [] for kind in WRITTEN}


@pytest.mark.parametrize(
    ("handler", "state"),
    [
        ("functions.handlers.requirements.compensate", "CompensateGeneration"),
        ("functions.handlers.generation.compensate", "CompensateExecution"),
        ("functions.handlers.execution.compensate", "CompensateRequirements"),
    ],
)
def test_a_compensation_under_another_steps_name_fences_nothing(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str, handler: str, state: str
) -> None:
    result, error = _invoke(stack, handler, _event(request_doc, saga_name, state))
    assert error and result["errorType"] == "InvalidRequest", result
    assert f"context.state: {state!r}" in result["errorMessage"], result
    _nothing_written(stack, saga_name)  # the other step's ledger entry was not fenced


@pytest.mark.parametrize("saga_id", ["", "s" * 3000], ids=["empty", "3000 characters"])
@pytest.mark.parametrize(
    ("handler", "state"),
    [
        ("functions.handlers.requirements.handler", "Requirements"),
        ("functions.handlers.requirements.compensate", "CompensateRequirements"),
    ],
)
def test_a_saga_id_no_execution_can_have_is_refused_typed(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_id: str, handler: str, state: str
) -> None:
    result, error = _invoke(stack, handler, _event(request_doc, saga_id, state))
    assert error and result["errorType"] == "InvalidRequest", result
    assert "context.saga_id" in result["errorMessage"], result


def test_execution_without_a_task_token_is_refused_typed(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str
) -> None:
    result, error = _invoke(
        stack, "functions.handlers.execution.handler", _event(request_doc, saga_name, "Execution")
    )
    assert error and result["errorType"] == "InvalidRequest", result
    assert "context.task_token" in result["errorMessage"], result
    _nothing_written(stack, saga_name)


def test_a_lone_surrogate_in_a_story_is_rejected_input_not_a_rollback(
    stack: EmbeddedStack, request_doc: dict[str, Any]
) -> None:
    """Valid JSON (``"\\ud800"``) that no store can encode: the saga ends at InputRejected."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    request = {**request_doc, "user_stories": ["As a visitor I open / \ud800"]}
    described = stack.run(request, name=name)
    states = stack.state_names(described["executionArn"])
    assert states == ["Requirements", "InputRejected"], states
    assert not any(s.startswith("Compensate") for s in states)
    _nothing_written(stack, name)


def test_a_compensation_failure_report_for_a_saga_that_never_existed_sends_nothing(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str
) -> None:
    before = len(stack.dead_letters())
    arn = stack.machine_arn().replace(":stateMachine:", ":execution:") + f":{saga_name}"
    event = _event(request_doc, saga_name, "ReportCompensationFailure", execution_arn=arn)
    result, error = _invoke(stack, "functions.handlers.compensation_failure.handler", event)
    assert error and result["errorType"] == "InvalidRequest", result
    assert "context.execution_arn: no such execution" in result["errorMessage"], result
    assert len(stack.dead_letters()) == before


def _status_change(stack: EmbeddedStack, execution_arn: str, name: str, status: str) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": stack.machine_arn(),
            "name": name,
            "status": status,
            "startDate": 0,
            "stopDate": 1,
            "input": "{}",
            "output": None,
        },
    }


def _audit_records(stack: EmbeddedStack, saga_id: str) -> list[dict[str, Any]]:
    found = stack.client("dynamodb").query(
        TableName=stack.outputs["TableAudit"],
        KeyConditionExpression="saga_id = :s",
        ExpressionAttributeValues={":s": {"S": saga_id}},
    )
    return list(found["Items"])


def test_a_forged_succeeded_event_is_refused_and_writes_nothing(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str
) -> None:
    # A real saga that failed: an event claiming it succeeded must not be believed.
    described = stack.run(request_doc, {"Requirements": {"mode": "permanent"}}, name=saga_name)
    assert described["status"] == "FAILED"
    records = _audit_records(stack, saga_name)
    forged = _status_change(stack, described["executionArn"], saga_name, "SUCCEEDED")
    result, error = _invoke(stack, "functions.handlers.saga_events.handler", forged)
    assert error and result["errorType"] == "InvalidRequest", result
    assert "the execution is FAILED, not SUCCEEDED" in result["errorMessage"], result
    assert _audit_records(stack, saga_name) == records  # nothing added

    # And one about an execution that never existed.
    ghost = described["executionArn"].rsplit(":", 1)[0] + f":{uuid.uuid4().hex}"
    result, error = _invoke(
        stack, "functions.handlers.saga_events.handler", _status_change(stack, ghost, "x", "SUCCEEDED")
    )
    assert error and result["errorType"] == "InvalidRequest", result


def test_a_compensation_failure_report_for_a_finished_saga_sends_nothing(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str
) -> None:
    described = stack.run(request_doc, name=saga_name)
    assert described["status"] == "SUCCEEDED"
    before = len(stack.dead_letters())
    event = _event(
        request_doc, saga_name, "ReportCompensationFailure", execution_arn=described["executionArn"]
    )
    result, error = _invoke(stack, "functions.handlers.compensation_failure.handler", event)
    assert error and result["errorType"] == "InvalidRequest", result
    assert "the execution is SUCCEEDED, not RUNNING" in result["errorMessage"], result
    assert len(stack.dead_letters()) == before


def test_a_redriven_run_whose_rollback_fails_again_gets_its_own_dead_letter(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run of an execution is its own failure. Keyed by execution alone, a redriven run
    that failed again found the first run's claim and sent nothing. The embedded stack has no
    redrive, so this run's ``redriveCount`` is what DescribeExecution is made to say."""
    from functions.common import executions

    arn = stack.start(
        request_doc, machine="reviewed-test-generation", name=saga_name
    )  # RUNNING: it waits at its gate
    event = _event(request_doc, saga_name, "ReportCompensationFailure", execution_arn=arn)
    described = executions.described
    try:
        for run in (0, 0, 1, 1):  # the reporter retried within each run
            monkeypatch.setattr(
                executions, "described", lambda a, n=run: {**(described(a) or {}), "redriveCount": n}
            )
            result, error = _invoke(stack, "functions.handlers.compensation_failure.handler", event)
            assert not error, result
        letters = [m for m in stack.dead_letters() if m.get("saga_id") == saga_name]
        assert sorted(letter.get("redrive_count", 0) for letter in letters) == [0, 1]
    finally:
        monkeypatch.undo()
        stack.client("stepfunctions").stop_execution(executionArn=arn)
