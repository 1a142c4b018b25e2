"""Assertions on what a saga left behind: the histories and the data, read back from AWS."""

from __future__ import annotations

from typing import Any

from stepsaga.embedded import EmbeddedStack

FORWARD = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]
COMPENSABLE = ["Requirements", "Generation", "Execution"]


def expected_rollback(failed: str) -> list[str]:
    """The states a saga that fails permanently at ``failed`` enters, in order."""
    ran = FORWARD[: FORWARD.index(failed) + 1]
    undo = [f"Compensate{s}" for s in reversed(COMPENSABLE) if s in ran]
    return [*ran, *undo, "RolledBack"]


def scheduled(stack: EmbeddedStack, arn: str, state: str) -> int:
    """How many times a state's task was scheduled (1 + retries)."""
    count, current = 0, None
    for event in stack.history(arn):
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in ("LambdaFunctionScheduled", "TaskScheduled") and current == state:
            count += 1
    return count


def assert_nothing_orphaned(stack: EmbeddedStack, saga_id: str) -> None:
    """After a rollback: scenarios deleted, tests INVALID, runs cleaned, artifacts gone."""
    assert stack.items("scenarios", saga_id) == []
    assert {t["status"] for t in stack.items("tests", saga_id)} <= {"INVALID"}
    assert {r.get("status") for r in stack.items("runs", saga_id)} <= {"CLEANED"}
    assert stack.artifact_keys(saga_id) == []
    ledger = ledger_of(stack, saga_id)
    for step in COMPENSABLE:
        if step in ledger:
            assert ledger[step]["status"] == "COMPENSATED", ledger[step]
            assert ledger[step].get("compensation_count", 1) == 1


def ledger_of(stack: EmbeddedStack, saga_id: str) -> dict[str, dict[str, Any]]:
    return {entry["step"]: entry for entry in stack.items("ledger", saga_id)}


def dead_letters_for(stack: EmbeddedStack, saga_id: str) -> list[dict[str, Any]]:
    return [m for m in stack.dead_letters() if m["saga_id"] == saga_id]
