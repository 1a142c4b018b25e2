"""The comparison the conformance cases rely on tells a conforming outcome from every kind of
difference (so a case that passes has really matched AWS's outcome)."""

from __future__ import annotations

import pytest

from tests.conformance.case import ABSENT, UUID, Expect, Json, Regex, Unordered, Where, differences, event
from tests.conformance.runner import NotJson

pytestmark = pytest.mark.conformance

EXPECT = Expect(
    "SUCCEEDED",
    [
        "ExecutionStarted",
        "ParallelStateEntered:P",
        Unordered("PassStateEntered:A", "PassStateEntered:B"),
        "ExecutionSucceeded",
    ],
    output={"id": UUID, "cause": Json({"n": Where(lambda n: n > 1, "more than one")})},
)
EVENTS = [
    ("ExecutionStarted", None),
    ("ParallelStateEntered", "P"),
    ("PassStateEntered", "B"),
    ("PassStateEntered", "A"),
    ("ExecutionSucceeded", None),
]
OUTPUT = {"id": "0b2f3c4d-1111-4222-8333-944445555666", "cause": '{"n": 2}'}


def test_a_conforming_outcome_has_no_differences() -> None:
    assert differences(EXPECT, "SUCCEEDED", OUTPUT, None, None, EVENTS) == []


@pytest.mark.parametrize(
    ("status", "output", "events"),
    [
        ("FAILED", OUTPUT, EVENTS),
        ("SUCCEEDED", {**OUTPUT, "id": "not-a-uuid"}, EVENTS),
        ("SUCCEEDED", {**OUTPUT, "cause": '{"n": 1}'}, EVENTS),
        ("SUCCEEDED", {**OUTPUT, "extra": 1}, EVENTS),
        ("SUCCEEDED", OUTPUT, [EVENTS[1], EVENTS[0], *EVENTS[2:]]),  # ordered events out of order
        ("SUCCEEDED", OUTPUT, [*EVENTS[:3], ("PassStateEntered", "C"), EVENTS[4]]),  # wrong state name
        ("SUCCEEDED", OUTPUT, EVENTS[:-1]),  # missing terminal event
        ("SUCCEEDED", OUTPUT, [*EVENTS, ("MapIterationFailed", None)]),  # an event after the terminal one
    ],
    ids=["status", "uuid", "json-cause", "extra-key", "order", "state-name", "missing", "trailing"],
)
def test_each_kind_of_difference_is_reported(status: str, output: object, events: list) -> None:
    assert differences(EXPECT, status, output, None, None, events)


def test_unchecked_fields_are_not_compared_and_text_that_is_not_json_never_matches() -> None:
    expect = Expect("SUCCEEDED", ["ExecutionSucceeded"], output="done")
    assert expect.error is ABSENT
    assert differences(expect, "SUCCEEDED", "done", "Any", "thing", [event("ExecutionSucceeded")]) == []
    assert differences(expect, "SUCCEEDED", NotJson("done"), None, None, [event("ExecutionSucceeded")])
    assert Regex(r"a+") != "ab"
