"""Bad input reaching a task directly (issue 12, section 6): each deployed function answers a
typed error the saga does not retry (``InvalidRequest``), and writes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from stepsaga.embedded import EmbeddedStack

pytestmark = pytest.mark.functional

WRITTEN = ("ledger", "scenarios", "tests", "runs", "sagas")


def _function(stack: EmbeddedStack, handler: str) -> str:
    for page in stack.client("lambda").get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function.get("Handler") == handler:
                return str(function["FunctionName"])
    raise LookupError(handler)


def _invoke(stack: EmbeddedStack, handler: str, event: dict[str, Any]) -> tuple[Any, str | None]:
    response = stack.client("lambda").invoke(
        FunctionName=_function(stack, handler),
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


def _event(request: dict[str, Any], saga_id: str, state: str, **context: Any) -> dict[str, Any]:
    return {
        "saga": {"request": request},
        "context": {"saga_id": saga_id, "execution_arn": f"arn:x:{saga_id}", "state": state, **context},
    }


def _nothing_written(stack: EmbeddedStack, saga_id: str) -> None:
    assert {kind: stack.items(kind, saga_id) for kind in WRITTEN} == {kind: [] for kind in WRITTEN}


@pytest.mark.parametrize(
    ("handler", "state"),
    [
        ("functions.handlers.requirements.compensate", "CompensateGeneration"),
        ("functions.handlers.generation.compensate", "CompensateExecution"),
        ("functions.handlers.execution.compensate", "CompensateRequirements"),
    ],
)
def test_a_compensation_under_another_steps_name_fences_nothing(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str, handler: str, state: str
) -> None:
    result, error = _invoke(stack, handler, _event(request_doc, saga_name, state))
    assert error and result["errorType"] == "InvalidRequest", result
    assert f"context.state: {state!r}" in result["errorMessage"], result
    _nothing_written(stack, saga_name)  # the other step's ledger entry was not fenced


@pytest.mark.parametrize("saga_id", ["", "s" * 3000], ids=["empty", "3000 characters"])
@pytest.mark.parametrize(
    ("handler", "state"),
    [
        ("functions.handlers.requirements.handler", "Requirements"),
        ("functions.handlers.requirements.compensate", "CompensateRequirements"),
    ],
)
def test_a_saga_id_no_execution_can_have_is_refused_typed(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_id: str, handler: str, state: str
) -> None:
    result, error = _invoke(stack, handler, _event(request_doc, saga_id, state))
    assert error and result["errorType"] == "InvalidRequest", result
    assert "context.saga_id" in result["errorMessage"], result


def test_execution_without_a_task_token_is_refused_typed(
    stack: EmbeddedStack, request_doc: dict[str, Any], saga_name: str
) -> None:
    result, error = _invoke(
        stack, "functions.handlers.execution.handler", _event(request_doc, saga_name, "Execution")
    )
    assert error and result["errorType"] == "InvalidRequest", result
    assert "context.task_token" in result["errorMessage"], result
    _nothing_written(stack, saga_name)


def test_a_lone_surrogate_in_a_story_is_rejected_input_not_a_rollback(
    stack: EmbeddedStack, request_doc: dict[str, Any]
) -> None:
    """Valid JSON (``"\\ud800"``) that no store can encode: the saga ends at InputRejected."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    request = {**request_doc, "user_stories": ["As a visitor I open / \ud800"]}
    described = stack.run(request, name=name)
    states = stack.state_names(described["executionArn"])
    assert states == ["Requirements", "InputRejected"], states
    assert not any(s.startswith("Compensate") for s in states)
    _nothing_written(stack, name)
