"""A parallel step's policy task: ``functions.agents.parallel_policy`` judges its items."""

from __future__ import annotations

from typing import Any

from functions.agents import parallel_policy
from functions.audit.steps import lambda_handler
from functions.common.observability import metric
from functions.common.step import Step
from functions.common.store import DynamoSagaStore


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = Step(event)
    verdict = parallel_policy.run(step, DynamoSagaStore(step.settings), event.get("policy") or {})
    metric("ParallelItemsFailed", verdict["failed"])
    return verdict
