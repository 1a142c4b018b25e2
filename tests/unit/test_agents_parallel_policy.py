"""functions/agents/parallel_policy.py: a per-item step's verdict against its failure policy."""

from __future__ import annotations

from typing import Any

import pytest

from functions.agents.parallel_policy import judge, run, tolerated_percentage
from functions.common.errors import AgentPermanentError
from functions.common.step import Step

pytestmark = pytest.mark.unit


def test_items_without_a_record_fail_and_are_listed_sorted() -> None:
    verdict = judge(["t-3", "t-1", "t-2", "t-4"], {"t-2", "t-4"}, 50)
    assert verdict == {
        "total": 4,
        "failed": 2,
        "failed_items": ["t-1", "t-3"],
        "failed_percentage": 50.0,
        "tolerated_percentage": 50,
    }


def test_more_failures_than_tolerated_fail_the_step_naming_them() -> None:
    with pytest.raises(AgentPermanentError, match=r"2 of 3 items failed \(66.7% > 50% tolerated\): t-1, t-3"):
        judge(["t-1", "t-2", "t-3"], {"t-2"}, 50)


def test_no_items_is_no_failure_even_with_nothing_tolerated() -> None:
    assert judge([], set(), 0)["failed_percentage"] == 0.0


def test_the_verdict_keeps_the_state_small() -> None:
    items = [f"t-{i:03d}" for i in range(150)]
    verdict = judge(items, set(), 100)
    assert verdict["failed"] == 150
    assert verdict["failed_items"] == items[:100]


def test_the_requests_tolerance_wins_over_the_steps_policy() -> None:
    assert tolerated_percentage(None, {}) == 0.0
    assert tolerated_percentage(None, {"tolerated_failure_percentage": 20}) == 20.0
    assert tolerated_percentage(5, {"tolerated_failure_percentage": 20}) == 5.0
    assert tolerated_percentage(0, {"tolerated_failure_percentage": 20}) == 0.0


class _Store:
    def __init__(self, tests: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
        self._items = {"tests": tests, "runs": runs}

    def items(self, kind: str, saga_id: str) -> list[dict[str, Any]]:
        assert saga_id == "saga-1"
        return self._items[kind]


def _step(**request: Any) -> Step:
    document = {"project": "demo", "target_url": "https://example.com", "user_stories": ["I open /"]}
    context = {"saga_id": "saga-1", "execution_arn": "arn:x", "state": "ExecutionPolicy"}
    return Step({"saga": {"request": {**document, **request}}, "context": context})


def test_run_judges_the_generated_tests_against_the_recorded_runs() -> None:
    tests = [
        {"test_id": "t-1", "status": "GENERATED"},
        {"test_id": "t-2", "status": "GENERATED"},
        {"test_id": "t-3", "status": "INVALID"},  # compensated: not an item of this step
    ]
    store: Any = _Store(tests, [{"test_id": "t-2"}])
    verdict = run(_step(tolerated_failure_percentage=50), store, {"tolerated_failure_percentage": 0})
    assert (verdict["total"], verdict["failed_items"], verdict["tolerated_percentage"]) == (2, ["t-1"], 50.0)
    with pytest.raises(AgentPermanentError):
        run(_step(), store, {"tolerated_failure_percentage": 10})
