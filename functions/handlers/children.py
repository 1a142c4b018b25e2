"""SummariseProjects: a parent saga's children, summarised by ``functions.agents.children``."""

from __future__ import annotations

from typing import Any

from functions.agents import children
from functions.audit.steps import lambda_handler


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return children.summarise(event.get("children") or [], event.get("projects") or [])
