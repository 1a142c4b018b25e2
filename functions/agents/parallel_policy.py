"""Judge a parallel step's per-item results against its failure policy.

The outcomes are read from the tables (generated tests vs recorded runs), not from the Map's
output, which the state machine discards to stay far from the 256 KB state limit.
"""

from __future__ import annotations

from typing import Any

from functions.common.errors import AgentPermanentError
from functions.common.step import Step
from functions.common.store import SagaStore


def tolerated_percentage(requested: float | None, policy: dict[str, Any]) -> float:
    """The saga request's own tolerance wins over the step's declared policy (default: none)."""
    return float(policy.get("tolerated_failure_percentage", 0) if requested is None else requested)


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


def run(step: Step, store: SagaStore, policy: dict[str, Any]) -> dict[str, Any]:
    """Judge the saga's generated tests: each one without a recorded run failed."""
    items = [t["test_id"] for t in store.items("tests", step.saga_id) if t.get("status") == "GENERATED"]
    done = {r["test_id"] for r in store.items("runs", step.saga_id)}
    tolerated = tolerated_percentage(step.input.request.tolerated_failure_percentage, policy)
    return judge(items, done, tolerated)
