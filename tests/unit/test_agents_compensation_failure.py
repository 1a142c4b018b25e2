"""functions/agents/compensation_failure.py: the dead letter of a saga whose compensation failed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.agents.compensation_failure import RESUME, dead_letter, report
from functions.common.store import ACTIVE, COMPENSATED

pytestmark = pytest.mark.unit

LEDGER = {
    "Requirements": {"status": ACTIVE, "created_scenarios": ["sc-1"]},
    "Generation": {"status": COMPENSATED, "created_tests": ["t-1"]},
}


class _Store:
    def ledger(self, saga_id: str) -> dict[str, dict[str, Any]]:
        assert saga_id == "saga-1"
        return LEDGER


def test_the_dead_letter_names_the_failure_and_what_is_left() -> None:
    left = {"Requirements": {"scenarios": ["sc-1"]}}
    letter = dead_letter("saga-1", "arn:x", {"Error": "States.TaskFailed", "Cause": "boom"}, left)
    assert letter == {
        "saga_id": "saga-1",
        "execution_arn": "arn:x",
        "error": "States.TaskFailed",
        "cause": "boom",
        "left_to_undo": left,
        "resume": RESUME,
    }
    assert dead_letter("saga-1", "arn:x", {}, {})["error"] is None


def test_report_sends_what_the_ledger_still_holds() -> None:
    sent: list[str] = []

    def send(body: str) -> str:
        sent.append(body)
        return "m-1"

    store: Any = _Store()
    reported = report(store, send, "saga-1", "arn:x", {"Error": "X"})
    assert (reported.message_id, reported.left_to_undo) == ("m-1", {"Requirements": {"scenarios": ["sc-1"]}})
    [body] = sent
    assert json.loads(body)["left_to_undo"] == {"Requirements": {"scenarios": ["sc-1"]}}
    assert json.loads(body)["error"] == "X"
