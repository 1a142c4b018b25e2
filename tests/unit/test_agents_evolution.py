"""functions/agents/evolution.py: a proposed change for every failing test."""

from __future__ import annotations

import pytest

from functions.agents.evolution import evolve, propose
from functions.common.models import RunResult, TestCase

pytestmark = pytest.mark.unit


def _test(test_id: str = "t-1", expected_text: str | None = "Pricing plans", kind: str = "text") -> TestCase:
    return TestCase(
        test_id=test_id,
        scenario_id="sc",
        name="n",
        kind=kind,
        url="https://example.com/pricing",
        expected_text=expected_text,
        code="",
    )


def _run(
    outcome: str = "FAILED",
    status_code: int | None = 200,
    detail: str = "d",
    page_words: list[str] | None = None,
    test_id: str = "t-1",
) -> RunResult:
    return RunResult(
        test_id=test_id,
        outcome=outcome,
        status_code=status_code,
        duration_ms=1,
        detail=detail,
        page_words=page_words or [],
    )


def test_a_404_retires_the_test() -> None:
    proposal = propose(_test(), _run(status_code=404, page_words=["Pricing plans"]))
    assert proposal.change == "retire_test"
    assert proposal.rationale == "https://example.com/pricing no longer exists (HTTP 404)"
    assert proposal.suggestion is None


@pytest.mark.parametrize("status", [301, 403, 500, 503])
def test_another_status_proposes_expecting_it(status: int) -> None:
    proposal = propose(_test(), _run(status_code=status))
    assert proposal.change == "expect_status"
    assert proposal.suggestion == str(status)
    assert str(status) in proposal.rationale


def test_close_text_proposes_a_replacement() -> None:
    proposal = propose(_test(), _run(page_words=["Contact us", "Pricing plan", "Blog"]))
    assert proposal.change == "replace_expected_text"
    assert proposal.suggestion == "Pricing plan"
    assert "'Pricing plan'" in proposal.rationale
    assert "'Pricing plans'" in proposal.rationale


def test_no_close_text_means_investigate() -> None:
    proposal = propose(_test(), _run(detail="text not found", page_words=["Contact us", "Blog"]))
    assert proposal.change == "investigate"
    assert proposal.rationale == "text not found"
    assert proposal.suggestion is None


def test_unreachable_target_means_investigate() -> None:
    proposal = propose(_test(), _run(outcome="ERROR", status_code=None, detail="unreachable: timed out"))
    assert proposal.change == "investigate"
    assert proposal.rationale == "unreachable: timed out"


def test_error_wins_over_a_close_text() -> None:
    proposal = propose(_test(), _run(outcome="ERROR", status_code=None, page_words=["Pricing plans"]))
    assert proposal.change == "investigate"


def test_evolve_proposes_only_for_failing_known_tests_in_id_order() -> None:
    tests = [_test("t-1"), _test("t-2"), _test("t-3")]
    runs = [
        _run(test_id="t-3", status_code=404),
        _run(test_id="t-1", outcome="PASSED"),
        _run(test_id="t-2", status_code=500),
        _run(test_id="t-9", status_code=404),  # no such test: ignored
    ]
    proposals = evolve(tests, runs)
    assert [(p.test_id, p.change) for p in proposals] == [("t-2", "expect_status"), ("t-3", "retire_test")]
