"""A parent saga's view of its children: which succeeded (to compensate) and which failed."""

from __future__ import annotations

from typing import Any

from functions.common.observability import lambda_handler


def summarise(children: list[dict[str, Any]], projects: list[dict[str, Any]]) -> dict[str, Any]:
    """Map results keep item order, so child i ran project i."""
    succeeded = [
        {"name": child["name"], "request": projects[index]["request"]}
        for index, child in enumerate(children)
        if child.get("status") == "SUCCEEDED"
    ]
    failed = [child["name"] for child in children if child.get("status") != "SUCCEEDED"]
    return {
        "succeeded": succeeded,
        "failed": failed,
        "succeeded_count": len(succeeded),
        "failed_count": len(failed),
    }


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return summarise(event.get("children") or [], event.get("projects") or [])
