"""Resuming a saga that ended CompensationFailed, on the embedded stack (stepsaga.cli.resume)."""

from __future__ import annotations

import io
import time

import pytest

from stepsaga.cli.resume import dead_letters, demo, function_name, resume
from stepsaga.embedded import EmbeddedStack
from tests.statemachine.saga_assertions import assert_nothing_orphaned, ledger_of
from tests.statemachine.test_fault_matrix import (
    COMPENSABLE,
    _own_dead_letters,  # noqa: F401  (autouse: takes this module's dead letters off the queue)
    check_saga,
    expected_outcome,
    snapshot,
)

pytestmark = pytest.mark.statemachine

# (the forward fault, the compensation that fails for good): what each leaves to resume.
STUCK = {
    "Execution-CompensateGeneration": {
        "Execution": {"mode": "permanent"},
        "CompensateGeneration": {"mode": "permanent"},
    },
    "Execution-CompensateExecution": {
        "Execution": {"mode": "permanent"},
        "CompensateExecution": {"mode": "exhaust"},
    },
    "Generation_partial-CompensateGeneration": {
        "Generation": {"mode": "partial"},
        "CompensateGeneration": {"mode": "permanent"},
    },
    "Evolution-CompensateRequirements": {
        "Evolution": {"mode": "permanent"},
        "CompensateRequirements": {"mode": "transient", "times": 4},
    },
}


def stuck_saga(stack: EmbeddedStack, request_doc: dict, saga_name: str, faults: dict) -> dict:
    described = stack.run(request_doc, faults=faults, name=saga_name)
    expected = expected_outcome(faults, request_doc)
    assert expected.error == "CompensationFailed"
    assert check_saga(stack, saga_name, described, expected, request_doc) == []
    return described


def assert_fully_compensated(stack: EmbeddedStack, saga_id: str) -> None:
    assert_nothing_orphaned(stack, saga_id)
    ledger = ledger_of(stack, saga_id)
    for step in COMPENSABLE:
        if step in ledger:
            assert ledger[step]["status"] == "COMPENSATED", ledger[step]
            assert ledger[step]["compensation_count"] == 1, ledger[step]


@pytest.mark.parametrize("case", STUCK, ids=list(STUCK))
def test_resume_finishes_the_rollback_and_a_second_resume_changes_nothing(
    stack, request_doc, saga_name, case
):
    faults = STUCK[case]
    stuck_saga(stack, request_doc, saga_name, faults)
    expected = expected_outcome(faults, request_doc)
    [letter] = dead_letters(stack, saga_name)

    first = resume(stack, saga_name)

    assert first["complete"] and first["failed"] is None
    assert [c["step"] for c in first["compensated"]] == list(expected.left)  # latest step first
    assert first["already_compensated"] == list(expected.compensated)
    assert set(letter["left_to_undo"]) <= set(expected.left)  # the dead letter named no more than that
    undone = {c["step"]: c["result"]["undone"] for c in first["compensated"]}
    for step, kinds in letter["left_to_undo"].items():
        assert undone[step] == sum(len(ids) for ids in kinds.values())  # exactly what was left
    assert_fully_compensated(stack, saga_name)
    assert first["dead_letters_removed"] == 1 and dead_letters(stack, saga_name) == []
    after_first = snapshot(stack, saga_name)

    second = resume(stack, saga_name)

    assert second["compensated"] == [] and second["complete"] and second["dead_letters_removed"] == 0
    assert second["already_compensated"] == [s for s in reversed(COMPENSABLE) if s in after_first["ledger"]]
    assert snapshot(stack, saga_name) == after_first  # idempotent: nothing changed


def test_a_compensation_that_still_fails_stops_the_resume_and_a_later_resume_finishes(
    stack, request_doc, saga_name
):
    faults = STUCK["Execution-CompensateGeneration"]
    stuck_saga(stack, request_doc, saga_name, faults)

    # The cause is not fixed yet: the Generation compensation still fails.
    blocked = resume(stack, saga_name, document={"request": request_doc, "faults": faults})

    assert not blocked["complete"] and blocked["compensated"] == []
    assert blocked["failed"]["step"] == "Generation"
    assert blocked["failed"]["error"]["errorType"] == "AgentPermanentError"
    assert ledger_of(stack, saga_name)["Requirements"]["status"] == "ACTIVE"  # stopped: reverse order kept
    assert blocked["dead_letters_removed"] == 0 and len(dead_letters(stack, saga_name)) == 1

    finished = resume(stack, saga_name)

    assert [c["step"] for c in finished["compensated"]] == ["Generation", "Requirements"]
    assert finished["dead_letters_removed"] == 1 and dead_letters(stack, saga_name) == []
    assert_fully_compensated(stack, saga_name)


def test_resume_refuses_a_saga_still_running_or_succeeded(stack, request_doc, saga_name):
    # A 1-second stall at the first step keeps the saga running (its timeout is 5 minutes).
    arn = stack.start(request_doc, faults={"Requirements": {"mode": "hang", "seconds": 1.0}}, name=saga_name)
    with pytest.raises(ValueError, match="RUNNING"):
        resume(stack, saga_name)
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    with pytest.raises(ValueError, match="SUCCEEDED"):
        resume(stack, saga_name)
    assert {e["status"] for e in ledger_of(stack, saga_name).values()} == {"ACTIVE"}


def test_resume_of_a_rolled_back_saga_does_nothing(stack, request_doc, saga_name):
    stack.run(request_doc, faults={"Generation": {"mode": "permanent"}}, name=saga_name)
    before = snapshot(stack, saga_name)
    report = resume(stack, saga_name)
    assert report["compensated"] == [] and report["already_compensated"] == ["Generation", "Requirements"]
    assert report["not_run"] == ["Execution"]
    assert snapshot(stack, saga_name) == before


def test_the_compensation_functions_are_found_by_state(stack):
    for step in COMPENSABLE:
        assert f"Compensate{step}Function" in function_name(stack, f"Compensate{step}")
    with pytest.raises(LookupError):
        function_name(stack, "CompensateObservation")


def test_the_demo_prints_the_dead_letter_and_the_ledger_before_and_after(stack, request_doc):
    out = io.StringIO()
    started = time.perf_counter()
    outcome = demo(stack, request_doc, out=out)
    text = out.getvalue()
    assert outcome["first"]["complete"] and outcome["second"]["compensated"] == []
    assert "dead letter:" in text and "left to undo: Generation: 7 tests; Requirements: 3 scenarios" in text
    assert text.index("ledger before resume:") < text.index("ledger after resume:")
    assert "Requirements" in text.split("ledger after resume:")[1]
    assert_fully_compensated(stack, outcome["saga_id"])
    assert time.perf_counter() - started < 30
