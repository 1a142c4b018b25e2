"""Observation: collect the results of every run into one record."""

from __future__ import annotations

from typing import Any

from functions.agents.reports import split
from functions.common.models import Observation, RunResult
from functions.common.step import Step
from functions.common.store import SagaStore

STEP = "Observation"


def observe(runs: list[RunResult]) -> Observation:
    count = len(runs)
    return Observation(
        total=count,
        passed=sum(r.outcome == "PASSED" for r in runs),
        failed=sum(r.outcome == "FAILED" for r in runs),
        errored=sum(r.outcome == "ERROR" for r in runs),
        mean_duration_ms=round(sum(r.duration_ms for r in runs) / count, 1) if count else 0.0,
        outcomes={r.test_id: r.outcome for r in sorted(runs, key=lambda r: r.test_id)},
    )


def run(step: Step, store: SagaStore) -> dict[str, Any]:
    observation = observe([RunResult.model_validate(r) for r in store.items("runs", step.saga_id)])
    report = {"report": "observation", **observation.model_dump()}
    store.record(step.saga_id, STEP, "reports", split(report, ("outcomes",)))
    return {"total": observation.total, "passed": observation.passed}
