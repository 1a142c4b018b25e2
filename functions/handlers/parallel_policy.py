"""Judge a parallel step's per-item results against its failure policy."""

from __future__ import annotations

from typing import Any

from functions.common.errors import AgentPermanentError
from functions.common.observability import lambda_handler, metric
from functions.common.step import Step


def judge(results: list[dict[str, Any]], tolerated_percentage: float) -> dict[str, Any]:
    """The verdict on a Map's results; raises when more items failed than tolerated."""
    failed = sorted(str(r.get("item")) for r in results if r.get("failed"))
    share = 100 * len(failed) / len(results) if results else 0.0
    verdict = {
        "total": len(results),
        "failed": len(failed),
        "failed_items": failed,
        "failed_percentage": round(share, 2),
        "tolerated_percentage": tolerated_percentage,
    }
    if share > tolerated_percentage:
        raise AgentPermanentError(
            f"{len(failed)} of {len(results)} items failed "
            f"({share:.1f}% > {tolerated_percentage}% tolerated): " + ", ".join(failed[:20])
        )
    return verdict


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = Step(event)
    policy = event.get("policy") or {}
    results = (step.saga.get("results") or {}).get(policy.get("step", ""), [])
    requested = step.input.request.tolerated_failure_percentage
    tolerated = float(policy.get("tolerated_failure_percentage", 0) if requested is None else requested)
    verdict = judge(results, tolerated)
    metric("ParallelItemsFailed", verdict["failed"])
    return verdict
