"""functions/agents/analysis.py: the pass rate and the failures with their reasons."""

from __future__ import annotations

import pytest

from functions.agents.analysis import analyse
from functions.agents.observation import observe
from functions.common.models import Observation, RunResult, TestCase

pytestmark = pytest.mark.unit


def _test(test_id: str, name: str) -> TestCase:
    return TestCase(
        test_id=test_id, scenario_id="sc", name=name, kind="status", url="https://e.com/", code=""
    )


def _run(test_id: str, outcome: str, detail: str) -> RunResult:
    return RunResult(test_id=test_id, outcome=outcome, duration_ms=1, detail=detail)


def test_pass_rate_and_failures_with_reasons() -> None:
    tests = [_test("t-1", "/ loads"), _test("t-2", "/pricing loads"), _test("t-3", "/about loads")]
    runs = [
        _run("t-1", "PASSED", "ok"),
        _run("t-2", "FAILED", "expected HTTP 200, got 404"),
        _run("t-3", "ERROR", "unreachable: timed out"),
    ]
    analysis = analyse(tests, observe(runs), runs)
    assert analysis.total == 3
    assert analysis.pass_rate == 0.3333
    assert [(f.test_id, f.name, f.reason) for f in analysis.failures] == [
        ("t-2", "/pricing loads", "expected HTTP 200, got 404"),
        ("t-3", "/about loads", "unreachable: timed out"),
    ]


def test_all_passing_has_rate_one_and_no_failures() -> None:
    runs = [_run("t-1", "PASSED", "ok"), _run("t-2", "PASSED", "ok")]
    analysis = analyse([_test("t-1", "a"), _test("t-2", "b")], observe(runs), runs)
    assert analysis.pass_rate == 1.0
    assert analysis.failures == []


def test_no_runs_has_rate_zero() -> None:
    analysis = analyse([], observe([]), [])
    assert (analysis.total, analysis.pass_rate, analysis.failures) == (0, 0.0, [])


def test_unknown_tests_and_missing_runs_fall_back_to_id_and_outcome() -> None:
    observation = Observation(
        total=2,
        passed=1,
        failed=1,
        errored=0,
        mean_duration_ms=1.0,
        outcomes={"t-1": "PASSED", "t-9": "FAILED"},
    )
    analysis = analyse([], observation, [])
    assert analysis.pass_rate == 0.5
    assert [(f.test_id, f.name, f.reason) for f in analysis.failures] == [("t-9", "t-9", "failed")]
