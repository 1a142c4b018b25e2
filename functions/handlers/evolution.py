"""Evolution agent: a forward step with nothing to compensate."""

from typing import Any

from functions.agents import evolution
from functions.audit.steps import lambda_handler
from functions.handlers.base import forward


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return forward(event, context, evolution.run)
