"""The compensation protocol: fence, undo what the ledger names, finish, at most once."""

from __future__ import annotations

from typing import Any

from functions.agents.ledger import compensate, created


class _Ledger:
    """The two ledger calls compensate() makes, recorded."""

    def __init__(self, status: str = "COMPENSATING") -> None:
        self.calls: list[str] = []
        self.entry = {"status": status, "created_scenarios": ["b", "a"]}

    def begin_compensation(self, saga_id: str, step: str) -> dict[str, Any]:
        self.calls.append("begin")
        return self.entry

    def finish_compensation(self, saga_id: str, step: str, undone: int) -> bool:
        self.calls.append("finish")
        return True


def undo(entry: dict[str, Any]) -> int:
    return len(created(entry, "scenarios"))


def test_it_fences_the_step_itself_when_no_one_has() -> None:
    ledger = _Ledger()
    result = compensate(ledger, "s1", "Requirements", undo)  # type: ignore[arg-type]
    assert ledger.calls == ["begin", "finish"]
    assert result == {"step": "Requirements", "undone": 2, "already_compensated": False}


def test_an_entry_fenced_by_the_handler_is_not_fenced_again() -> None:
    ledger = _Ledger()
    result = compensate(ledger, "s1", "Requirements", undo, fenced=ledger.entry)  # type: ignore[arg-type]
    assert ledger.calls == ["finish"]
    assert result["undone"] == 2


def test_a_step_already_compensated_is_left_alone() -> None:
    ledger = _Ledger(status="COMPENSATED")
    result = compensate(ledger, "s1", "Requirements", undo, fenced=ledger.entry)  # type: ignore[arg-type]
    assert ledger.calls == []
    assert result == {"step": "Requirements", "undone": 0, "already_compensated": True}
