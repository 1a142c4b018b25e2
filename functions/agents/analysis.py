"""Analysis: the pass rate and what failed, and why."""

from __future__ import annotations

from typing import Any

from functions.agents.reports import joined, split
from functions.common.models import Analysis, Failure, Observation, RunResult, TestCase
from functions.common.step import Step
from functions.common.store import SagaStore

STEP = "Analysis"


def analyse(tests: list[TestCase], observation: Observation, runs: list[RunResult]) -> Analysis:
    names = {t.test_id: t.name for t in tests}
    details = {r.test_id: r.detail for r in runs}
    failures = [
        Failure(
            test_id=test_id, name=names.get(test_id, test_id), reason=details.get(test_id, outcome.lower())
        )
        for test_id, outcome in observation.outcomes.items()
        if outcome != "PASSED"
    ]
    rate = observation.passed / observation.total if observation.total else 0.0
    return Analysis(total=observation.total, pass_rate=round(rate, 4), failures=failures)


def run(step: Step, store: SagaStore) -> dict[str, Any]:
    reports = joined(store.items("reports", step.saga_id))
    observation = Observation.model_validate(reports["observation"])
    tests = [TestCase.model_validate(t) for t in store.items("tests", step.saga_id)]
    runs = [RunResult.model_validate(r) for r in store.items("runs", step.saga_id)]
    analysis = analyse(tests, observation, runs)
    analysis.execution_failures = list(step.result_of("ExecutionPolicy").get("failed_items", []))
    report = {"report": "analysis", **analysis.model_dump()}
    store.record(step.saga_id, STEP, "reports", split(report, ("failures", "execution_failures")))
    return {"pass_rate": analysis.pass_rate, "failures": len(analysis.failures)}
