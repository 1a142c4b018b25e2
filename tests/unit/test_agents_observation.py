"""functions/agents/observation.py: the runs collected into one record."""

from __future__ import annotations

import pytest

from functions.agents.observation import observe
from functions.common.models import RunResult

pytestmark = pytest.mark.unit


def _run(test_id: str, outcome: str, duration_ms: int) -> RunResult:
    return RunResult(test_id=test_id, outcome=outcome, duration_ms=duration_ms, detail="d")


def test_counts_outcomes_and_averages_durations() -> None:
    observation = observe(
        [
            _run("t-3", "ERROR", 0),
            _run("t-1", "PASSED", 10),
            _run("t-2", "FAILED", 21),
            _run("t-4", "PASSED", 30),
        ]
    )
    assert (observation.total, observation.passed, observation.failed, observation.errored) == (4, 2, 1, 1)
    assert observation.mean_duration_ms == 15.2  # 61 / 4 = 15.25, rounded to one decimal
    assert observation.outcomes == {"t-1": "PASSED", "t-2": "FAILED", "t-3": "ERROR", "t-4": "PASSED"}
    assert list(observation.outcomes) == ["t-1", "t-2", "t-3", "t-4"]  # sorted by test id


def test_counts_add_up_to_the_total() -> None:
    runs = [_run(f"t-{i}", ("PASSED", "FAILED", "ERROR")[i % 3], i) for i in range(10)]
    observation = observe(runs)
    assert observation.passed + observation.failed + observation.errored == observation.total == 10
    assert observation.mean_duration_ms == 4.5


def test_no_runs_means_zero_without_dividing_by_zero() -> None:
    observation = observe([])
    assert observation.total == 0
    assert observation.mean_duration_ms == 0.0
    assert observation.outcomes == {}
