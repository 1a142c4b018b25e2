"""Walk a mocked path (``mocks.MockCase``) through AWS's TestState API, one state per call.

TestState runs a single state of a full definition (``stateName``) on the state's input,
with a task's answer mocked (``mock.result`` or ``mock.errorOutput``) and the retries so
far given (``stateConfiguration.retrierRetryCount``), and says what Step Functions would do
next: ``SUCCEEDED`` with the ``nextState`` (none at the end), ``RETRIABLE`` (a Retry
re-runs the state), ``CAUGHT_ERROR`` (a Catch sends the error output to ``nextState``) or
``FAILED``. The walker starts at ``StartAt`` with the case's input, feeds each output to the
next state, and feeds a task its case's next answer per attempt, so the path, the retries and
the data flow (Choice rules, ResultPath) are AWS's own; only the task answers are mocked.

It records the path in ``mocks.observe``'s terms (a retried task once per attempt), so the
same expectations hold on LocalStack, the embedded stack and AWS. TestState runs a Map or a
Parallel only as a whole with its result mocked, so the states a case expects inside its
iterations cannot be seen: ``unsupported`` names those cases and why. The client is anything
with boto3's ``test_state`` (a Step Functions client); nothing here knows this app's sagas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from statemachines.tools.cost import first_match
from statemachines.tools.mocks import MockCase, Observed, Response

# A path longer than this is a loop the declaration does not have.
MAX_TRANSITIONS = 500
WHOLE_ONLY = ("Map", "Parallel")


class TestStateClient(Protocol):
    def test_state(self, **request: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Walk:
    observed: Observed
    status: str  # SUCCEEDED | FAILED, as an execution ends
    error: str | None
    cause: str | None


def unsupported(case: MockCase, asl: Mapping[str, Any]) -> str | None:
    """Why TestState cannot walk this case, or None."""
    whole = [s for s in dict.fromkeys(case.states) if asl["States"][s]["Type"] in WHOLE_ONLY]
    if not whole:
        return None
    kind = asl["States"][whole[0]]["Type"]
    return (
        f"{whole[0]} is a {kind}: TestState runs it only as a whole with a mocked result, "
        "so the states inside its iterations that the case expects are not observable"
    )


def _mock(answer: Response) -> dict[str, Any]:
    # The functions' return values and the child's parsed output (.sync:2) are not raw API
    # responses, so they are not validated against an API model.
    if answer.error is not None:
        return {"errorOutput": {"error": answer.error, "cause": answer.cause}, "fieldValidationMode": "NONE"}
    return {"result": json.dumps(answer.result), "fieldValidationMode": "NONE"}


class _Answers:
    """Each task's mocked answers, one per attempt, in order."""

    def __init__(self, case: MockCase) -> None:
        self._left: dict[str, Iterator[Response]] = {s: iter(a) for s, a in case.responses.items()}

    def next(self, state: str) -> Response:
        answer = next(self._left.get(state, iter(())), None)
        if answer is None:
            raise AssertionError(f"{state} is called more often than the case predicts")
        return answer


def walk(
    client: TestStateClient, asl: Mapping[str, Any], case: MockCase, role_arn: str | None = None
) -> Walk:
    """Run ``case`` through ``asl`` (placeholders filled in) one TestState call per attempt."""
    reason = unsupported(case, asl)
    if reason:
        raise ValueError(f"{case.machine}:{case.name}: {reason}")
    definition = json.dumps(asl)
    answers = _Answers(case)
    states: list[str] = []
    attempts = 0
    current: str | None = asl["StartAt"]
    document = json.dumps(case.input)
    retries: dict[int, int] = {}  # retries so far per Retry rule, within the current entry
    while current is not None:
        if len(states) >= MAX_TRANSITIONS:
            raise AssertionError(f"{case.machine}:{case.name}: more than {MAX_TRANSITIONS} transitions")
        state = asl["States"][current]
        states.append(current)
        request: dict[str, Any] = {
            "definition": definition,
            "stateName": current,
            "input": document,
            "inspectionLevel": "DEBUG",
        }
        if role_arn:
            request["roleArn"] = role_arn
        rule: int | None = None  # the Retry rule the mocked error meets
        if state["Type"] == "Task":
            answer = answers.next(current)
            attempts += 1
            request["mock"] = _mock(answer)
            if answer.error is not None:
                rule = first_match(state.get("Retry", []), answer.error)
                if rule is not None:
                    request["stateConfiguration"] = {"retrierRetryCount": retries.get(rule, 0)}
        answered = client.test_state(**request)
        status = answered["status"]
        if status == "RETRIABLE":
            if rule is None:
                raise AssertionError(f"{current}: TestState retries an error no Retry rule matches")
            retries[rule] = retries.get(rule, 0) + 1
            continue  # the same state again, on the same input: one more entry in observe's terms
        if status == "FAILED":
            observed = Observed(tuple(states), {}, attempts)
            return Walk(observed, "FAILED", answered.get("error"), answered.get("cause"))
        if status not in ("SUCCEEDED", "CAUGHT_ERROR"):
            raise AssertionError(f"{current}: TestState answered status {status!r}")
        document = answered.get("output") or "{}"
        current = answered.get("nextState")
        retries = {}
    return Walk(Observed(tuple(states), {}, attempts), "SUCCEEDED", None, None)
