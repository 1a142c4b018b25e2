"""Evolution: propose a change to every failing test."""

from __future__ import annotations

import difflib
from typing import Any

from functions.agents.reports import split
from functions.common.models import Proposal, RunResult, TestCase
from functions.common.step import Step
from functions.common.store import SagaStore

STEP = "Evolution"


def propose(test: TestCase, result: RunResult) -> Proposal:
    if result.outcome == "ERROR":
        return Proposal(test_id=test.test_id, change="investigate", rationale=result.detail)
    if result.status_code is not None and result.status_code != test.expected_status:
        if result.status_code == 404:
            return Proposal(
                test_id=test.test_id,
                change="retire_test",
                rationale=f"{test.url} no longer exists (HTTP 404)",
            )
        return Proposal(
            test_id=test.test_id,
            change="expect_status",
            rationale=f"the page answers HTTP {result.status_code}",
            suggestion=str(result.status_code),
        )
    close = difflib.get_close_matches(test.expected_text or "", result.page_words, n=1, cutoff=0.5)
    if close:
        return Proposal(
            test_id=test.test_id,
            change="replace_expected_text",
            rationale=f"the page shows {close[0]!r}, the closest text to {test.expected_text!r}",
            suggestion=close[0],
        )
    return Proposal(test_id=test.test_id, change="investigate", rationale=result.detail)


def evolve(tests: list[TestCase], runs: list[RunResult]) -> list[Proposal]:
    by_id = {t.test_id: t for t in tests}
    return [
        propose(by_id[r.test_id], r)
        for r in sorted(runs, key=lambda r: r.test_id)
        if r.outcome != "PASSED" and r.test_id in by_id
    ]


def run(step: Step, store: SagaStore) -> dict[str, Any]:
    tests = [TestCase.model_validate(t) for t in store.items("tests", step.saga_id)]
    runs = [RunResult.model_validate(r) for r in store.items("runs", step.saga_id)]
    proposals = evolve(tests, runs)
    store.record(
        step.saga_id,
        STEP,
        "reports",
        split({"report": "evolution", "proposals": [p.model_dump() for p in proposals]}, ("proposals",)),
    )
    return {"proposals": len(proposals)}
