"""Requirements: turn a request's user stories into scenarios.

A story names the page it is about (``/pricing``) and, in quotes, what a user should see
there: ``As a visitor I open /pricing and see "Plans"``. No path means the home page.
"""

from __future__ import annotations

import hashlib
from typing import Any

from functions.agents.ledger import compensate, created
from functions.common.models import SagaRequest, Scenario
from functions.common.step import Step
from functions.common.store import SagaStore
from functions.common.stories import expectations, normalised, page_path

STEP = "Requirements"


def scenario_id(saga_id: str, index: int, story: str) -> str:
    digest = hashlib.sha256(f"{saga_id}/{index}/{story}".encode()).hexdigest()[:8]
    return f"sc-{index:02d}-{digest}"


def derive_scenarios(request: SagaRequest, saga_id: str) -> list[Scenario]:
    scenarios = []
    for index, story in enumerate(request.user_stories):
        text = normalised(story)
        scenarios.append(
            Scenario(
                scenario_id=scenario_id(saga_id, index, text),
                title=text if len(text) <= 80 else text[:77] + "...",
                story=text,
                path=page_path(text),
                expectations=expectations(text),
            )
        )
    return scenarios


def run(step: Step, store: SagaStore) -> dict[str, Any]:
    scenarios = derive_scenarios(step.input.request, step.saga_id)
    to_write, crash = step.faults.partial(step.ctx, scenarios)
    store.record(step.saga_id, STEP, "scenarios", [s.model_dump() for s in to_write])
    if crash:
        step.faults.crash_after_partial_write(step.ctx, len(to_write))
    return {"scenarios": len(scenarios)}


def undo(step: Step, store: SagaStore) -> dict[str, Any]:
    """Delete the scenarios this saga's Requirements step created."""
    return compensate(
        store,
        step.saga_id,
        STEP,
        lambda entry: store.delete("scenarios", step.saga_id, created(entry, "scenarios")),
        fenced=step.fenced,
    )
