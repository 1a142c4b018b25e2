"""statemachines/tools/teststate.py: a mocked path walked through AWS's TestState API.

No AWS here: botocore's Stubber answers a real Step Functions client (each request checked
against what the walker must send), and a small engine answers as the API reference says
TestState does (Retry, Catch, Fail, Succeed) for every case of every saga. Either way the
walk must show what ``mocks`` expects, as LocalStack's history does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from botocore.validate import validate_parameters

from statemachines.catalogue import PARENTS, SAGAS, TEST_GENERATION, asl_path, machines
from statemachines.saga import PERMANENT_ERROR, compile_saga
from statemachines.tools import mocks, teststate
from statemachines.tools.cost import TRANSIENT_ERROR

pytestmark = pytest.mark.unit

PLAN = mocks.plan(SAGAS.values(), PARENTS.values())
ASL = compile_saga(TEST_GENERATION)
ROLE = "arn:aws:iam::123456789012:role/teststate"


def _case(name: str) -> mocks.MockCase:
    return next(c for c in PLAN.cases if (c.machine, c.name) == ("test-generation", name))


def _client() -> Any:
    # Stubbed calls never leave the process; the credentials only let botocore sign.
    return boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = _client()
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _expect(
    stubber: Stubber,
    state: str,
    answer: dict[str, Any],
    *,
    mock: dict[str, Any] | None = None,
    retries: int | None = None,
    document: Any = ANY,
) -> None:
    expected: dict[str, Any] = {
        "definition": ANY,
        "stateName": state,
        "input": document,
        "inspectionLevel": "DEBUG",
        "roleArn": ROLE,
    }
    if mock is not None:
        expected["mock"] = {**mock, "fieldValidationMode": "NONE"}
    if retries is not None:
        expected["stateConfiguration"] = {"retrierRetryCount": retries}
    stubber.add_response("test_state", answer, expected)


def _done(next_state: str | None = None, output: str = "{}") -> dict[str, Any]:
    answer = {"status": "SUCCEEDED", "output": output}
    return {**answer, "nextState": next_state} if next_state else answer


def _failure(error: str) -> dict[str, Any]:
    return {"errorOutput": {"error": error, "cause": f"mocked {error}"}}


def _assert_expected(walked: teststate.Walk, case: mocks.MockCase) -> None:
    assert walked.observed.states == case.states
    assert walked.observed.nested == case.nested
    assert walked.observed.attempts == case.attempts
    assert (walked.status, walked.error) == (case.status, case.error)


STEPS = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]


def test_the_happy_path_feeds_each_output_to_the_next_state(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    case = _case("Happy")
    document = json.dumps(case.input)
    for step, following in zip(STEPS, [*STEPS[1:], "SagaSucceeded"], strict=True):
        output = json.dumps({"after": step})
        _expect(stubber, step, _done(following, output), mock={"result": "{}"}, document=document)
        document = output
    _expect(stubber, "SagaSucceeded", _done(), document=document)

    _assert_expected(teststate.walk(client, ASL, case, ROLE), case)


def test_a_retry_enters_the_task_again_with_the_next_answer(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    case = _case("RetryOnceAtGeneration")
    _expect(stubber, "Requirements", _done("Generation"), mock={"result": "{}"})
    retriable = {"status": "RETRIABLE", "error": TRANSIENT_ERROR, "cause": "mocked"}
    _expect(stubber, "Generation", retriable, mock=_failure(TRANSIENT_ERROR), retries=0)
    _expect(stubber, "Generation", _done("Execution"), mock={"result": "{}"})
    for step, following in zip(STEPS[2:], [*STEPS[3:], "SagaSucceeded"], strict=True):
        _expect(stubber, step, _done(following), mock={"result": "{}"})
    _expect(stubber, "SagaSucceeded", _done())

    _assert_expected(teststate.walk(client, ASL, case, ROLE), case)


def test_a_permanent_failure_is_caught_into_the_compensations(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    case = _case("FailAtGeneration2")
    _expect(stubber, "Requirements", _done("Generation"), mock={"result": "{}"})
    caught = json.dumps({"error": {"Error": PERMANENT_ERROR}})
    answer = {"status": "CAUGHT_ERROR", "nextState": "CompensateGeneration", "output": caught}
    # The permanent error meets the first Retry rule (MaxAttempts 0), with no retries so far.
    _expect(stubber, "Generation", answer, mock=_failure(PERMANENT_ERROR), retries=0)
    _expect(
        stubber,
        "CompensateGeneration",
        _done("CompensateRequirements"),
        document=caught,
        mock={"result": "{}"},
    )
    _expect(stubber, "CompensateRequirements", _done("RolledBack"), mock={"result": "{}"})
    rolled_back = {"status": "FAILED", "error": "SagaRolledBack", "cause": "undone"}
    _expect(stubber, "RolledBack", rolled_back)

    walked = teststate.walk(client, ASL, case, ROLE)
    _assert_expected(walked, case)
    assert walked.cause == "undone"


def test_retries_exhausted_count_up_then_the_catch_applies(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    case = _case("RetriesExhaustedAtExecution")  # Execution retries twice
    _expect(stubber, "Requirements", _done("Generation"), mock={"result": "{}"})
    _expect(stubber, "Generation", _done("Execution"), mock={"result": "{}"})
    for retries in (0, 1):
        retriable = {"status": "RETRIABLE", "error": TRANSIENT_ERROR}
        _expect(stubber, "Execution", retriable, mock=_failure(TRANSIENT_ERROR), retries=retries)
    caught = {"status": "CAUGHT_ERROR", "nextState": "CompensateExecution", "output": "{}"}
    _expect(stubber, "Execution", caught, mock=_failure(TRANSIENT_ERROR), retries=2)
    for step, following in [
        ("CompensateExecution", "CompensateGeneration"),
        ("CompensateGeneration", "CompensateRequirements"),
        ("CompensateRequirements", "RolledBack"),
    ]:
        _expect(stubber, step, _done(following), mock={"result": "{}"})
    _expect(stubber, "RolledBack", {"status": "FAILED", "error": "SagaRolledBack"})

    _assert_expected(teststate.walk(client, ASL, case, ROLE), case)


# -- every case, on an engine that answers as the API reference describes TestState ---------------


def _meets(error: str, equals: list[str]) -> bool:
    return error in equals or "States.ALL" in equals or ("States.TaskFailed" in equals and "." not in error)


class ReferenceTestState:
    """TestState as documented: a mocked task's error is RETRIABLE while its Retry rule's
    ``retrierRetryCount`` is below MaxAttempts, then CAUGHT_ERROR where a Catch meets it,
    else FAILED. Requests are validated against botocore's model of the API."""

    def __init__(self) -> None:
        self.model = _client().meta.service_model.operation_model("TestState").input_shape

    def test_state(self, **request: Any) -> Mapping[str, Any]:
        validate_parameters(request, self.model)
        state = json.loads(request["definition"])["States"][request["stateName"]]
        kind, document = state["Type"], request["input"]
        assert ("mock" in request) == (kind == "Task"), "a mock exactly for each task"
        if kind == "Fail":
            return {"status": "FAILED", "error": state.get("Error"), "cause": state.get("Cause")}
        if kind == "Succeed":
            return {"status": "SUCCEEDED", "output": document}
        if kind != "Task":
            raise AssertionError(f"this engine answers tasks, Fail and Succeed, not {kind}")
        error = request["mock"].get("errorOutput", {}).get("error")
        if error is None:
            following = {"nextState": state["Next"]} if "Next" in state else {}
            return {"status": "SUCCEEDED", "output": request["mock"]["result"], **following}
        done = request.get("stateConfiguration", {}).get("retrierRetryCount", 0)
        for rule in state.get("Retry", []):
            if _meets(error, rule["ErrorEquals"]):
                if done < rule.get("MaxAttempts", 3):
                    return {"status": "RETRIABLE", "error": error}
                break
        for catch in state.get("Catch", []):
            if _meets(error, catch["ErrorEquals"]):
                return {"status": "CAUGHT_ERROR", "nextState": catch["Next"], "output": document}
        return {"status": "FAILED", "error": error}


def _definition(machine: str) -> dict[str, Any]:
    return dict(json.loads(asl_path(machine).read_text()))


@pytest.mark.parametrize("case", PLAN.cases, ids=lambda c: f"{c.machine}:{c.name}")
def test_every_path_walks_as_its_declaration_says(case: mocks.MockCase) -> None:
    asl = _definition(case.machine)
    reason = teststate.unsupported(case, asl)
    if reason:
        assert any(asl["States"][s]["Type"] in ("Map", "Parallel") for s in case.states)
        with pytest.raises(ValueError, match="only as a whole"):
            teststate.walk(ReferenceTestState(), asl, case)
        return
    _assert_expected(teststate.walk(ReferenceTestState(), asl, case), case)


def test_only_cases_through_a_map_are_unsupported() -> None:
    unsupported = {
        (c.machine, c.name) for c in PLAN.cases if teststate.unsupported(c, _definition(c.machine))
    }
    assert {machine for machine, _ in unsupported} == {"parallel-test-generation", "multi-project"}
    walked = {c.machine for c in PLAN.cases if (c.machine, c.name) not in unsupported}
    # Every path of the parent starts its children in a Map; every other machine is walked.
    assert walked == set(machines()) - {"multi-project"}


def test_a_call_the_case_does_not_predict_fails_the_walk() -> None:
    case = _case("Happy")
    short = mocks.MockCase(**{**case.__dict__, "responses": {**case.responses, "Evolution": ()}})
    with pytest.raises(AssertionError, match="Evolution is called more often"):
        teststate.walk(ReferenceTestState(), ASL, short)
