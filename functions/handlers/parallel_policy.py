"""Judge a parallel step's per-item results against its failure policy.

The outcomes are read from the tables (generated tests vs recorded runs), not from the Map's
output, which the state machine discards to stay far from the 256 KB state limit.
"""

from __future__ import annotations

from typing import Any

from functions.common.errors import AgentPermanentError
from functions.common.observability import lambda_handler, metric
from functions.common.step import Step
from functions.common.store import DynamoSagaStore


def judge(items: list[str], done: set[str], tolerated_percentage: float) -> dict[str, Any]:
    """The verdict on a per-item step: an item that left no record failed. Raises when more
    items failed than tolerated."""
    failed = sorted(i for i in items if i not in done)
    share = 100 * len(failed) / len(items) if items else 0.0
    verdict = {
        "total": len(items),
        "failed": len(failed),
        "failed_items": failed[:100],  # the state stays small; the Runs table has the rest
        "failed_percentage": round(share, 2),
        "tolerated_percentage": tolerated_percentage,
    }
    if share > tolerated_percentage:
        raise AgentPermanentError(
            f"{len(failed)} of {len(items)} items failed "
            f"({share:.1f}% > {tolerated_percentage}% tolerated): " + ", ".join(failed[:20])
        )
    return verdict


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = Step(event)
    policy = event.get("policy") or {}
    store = DynamoSagaStore(step.settings)
    items = [t["test_id"] for t in store.items("tests", step.saga_id) if t.get("status") == "GENERATED"]
    done = {r["test_id"] for r in store.items("runs", step.saga_id)}
    requested = step.input.request.tolerated_failure_percentage
    tolerated = float(policy.get("tolerated_failure_percentage", 0) if requested is None else requested)
    verdict = judge(items, done, tolerated)
    metric("ParallelItemsFailed", verdict["failed"])
    return verdict
