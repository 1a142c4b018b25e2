"""Analysis agent: a forward step with nothing to compensate."""

from typing import Any

from functions.agents import analysis
from functions.audit.steps import lambda_handler
from functions.handlers.base import forward


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return forward(event, context, analysis.run)
