"""Generation agent: forward step and its compensation."""

from typing import Any

from functions.agents import generation
from functions.audit.steps import lambda_handler
from functions.handlers.base import backward, forward


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return forward(event, context, generation.run)


@lambda_handler
def compensate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return backward(event, generation.undo, undoes="Generation")
