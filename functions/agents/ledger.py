"""The compensation protocol every compensable agent shares: driven by the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.common.store import COMPENSATED, SagaStore


def created(entry: dict[str, Any], kind: str) -> list[str]:
    """The ids of ``kind`` the ledger says a step created."""
    return sorted(entry.get(f"created_{kind}", []))


def compensate(
    store: SagaStore,
    saga_id: str,
    step: str,
    undo: Callable[[dict[str, Any]], int],
    fenced: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo what ``step`` recorded, at most once.

    ``begin_compensation`` fences the step (a late attempt can no longer write) and returns
    the ledger entry; ``fenced`` is that entry when the caller has fenced the step already
    (the compensation handler does, first thing), which saves a second conditional write.
    ``undo`` reverses exactly the ids in the entry and must itself be idempotent, so a
    compensation that crashed half-way can simply run again.
    """
    entry = fenced if fenced is not None else store.begin_compensation(saga_id, step)
    if entry["status"] == COMPENSATED:
        return {"step": step, "undone": 0, "already_compensated": True}
    undone = undo(entry)
    first = store.finish_compensation(saga_id, step, undone)
    return {"step": step, "undone": undone, "already_compensated": not first}


UNDONE_KINDS = ("scenarios", "tests", "runs", "artifacts")  # reports are never undone


def left_to_undo(ledger: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per step not yet compensated, the ids it created, by kind."""
    remaining = {}
    for step, entry in sorted(ledger.items()):
        if entry.get("status") == COMPENSATED:
            continue
        made = {kind: created(entry, kind) for kind in UNDONE_KINDS if created(entry, kind)}
        if made:
            remaining[step] = made
    return remaining
