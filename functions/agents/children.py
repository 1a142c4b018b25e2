"""A parent saga's view of its children: which succeeded (to compensate) and which failed."""

from __future__ import annotations

import json
from typing import Any

# A child that ended with one of these has undone its own work (or never wrote any).
ROLLED_ITSELF_BACK = ("SagaRolledBack", "InvalidRequest")


def child_error(child: dict[str, Any]) -> str | None:
    """The child saga's own error, from the .sync:2 task's cause (its DescribeExecution)."""
    try:
        described = json.loads(child.get("cause") or "{}")
    except ValueError:
        return None
    return described.get("Error") if isinstance(described, dict) else None


def summarise(children: list[dict[str, Any]], projects: list[dict[str, Any]]) -> dict[str, Any]:
    """Which children to compensate. Map results keep item order: child i ran project i.

    Every child that succeeded is compensated, and so is every failed child that did not
    roll itself back (timed out, aborted, or stuck in CompensationFailed): the rollback
    machine undoes what its ledger still holds, and nothing twice.
    """
    to_compensate, failed = [], []
    for index, child in enumerate(children):
        if child.get("status") != "SUCCEEDED":
            failed.append(child["name"])
            if child_error(child) in ROLLED_ITSELF_BACK:
                continue
        to_compensate.append({"name": child["name"], "request": projects[index]["request"]})
    return {
        "to_compensate": to_compensate,
        "failed": failed,
        "succeeded_count": len(children) - len(failed),
        "failed_count": len(failed),
    }
