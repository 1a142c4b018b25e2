"""A compensation that exhausted its retries: what is left to undo, as a dead letter."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.agents.ledger import left_to_undo
from functions.common.store import SagaStore

RESUME = (
    "run the remaining compensations: stepsaga.cli.resume.resume(stack, saga_id) on the "
    "embedded stack; on AWS invoke each Compensate<Step> function (see docs/RELIABILITY.md)"
)

Send = Callable[[str], str]  # a message body -> its message id (the dead-letter queue)


@dataclass(frozen=True)
class Reported:
    message_id: str
    left_to_undo: dict[str, dict[str, list[str]]]


def dead_letter(
    saga_id: str, execution_arn: str, failure: dict[str, Any], remaining: dict[str, dict[str, list[str]]]
) -> dict[str, Any]:
    """What an operator needs to resume the saga: the failure and the ids still to undo."""
    return {
        "saga_id": saga_id,
        "execution_arn": execution_arn,
        "error": failure.get("Error"),
        "cause": failure.get("Cause"),
        "left_to_undo": remaining,
        "resume": RESUME,
    }


def report(
    store: SagaStore, send: Send, saga_id: str, execution_arn: str, failure: dict[str, Any]
) -> Reported:
    """Send the saga's dead letter, with what its ledger still holds."""
    remaining = left_to_undo(store.ledger(saga_id))
    message_id = send(json.dumps(dead_letter(saga_id, execution_arn, failure, remaining)))
    return Reported(message_id=message_id, left_to_undo=remaining)
