"""DynamoSagaStore's compensation writes, on the embedded stack's own tables."""

from __future__ import annotations

import uuid
from typing import Any

from functions.common.store import DynamoSagaStore


def test_set_status_marks_the_items_that_exist_and_creates_none(stack: Any) -> None:
    store = DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    store.record(saga_id, "Execution", "runs", [{"test_id": "r1", "status": "PASSED"}, {"test_id": "r2"}])

    marked = store.set_status("runs", saga_id, ["r1", "gone", "r2", "r1"], "CLEANED")

    assert marked == 2  # "gone" was never written; "r1" named twice is one item
    runs = {r["test_id"]: r for r in store.items("runs", saga_id)}
    assert sorted(runs) == ["r1", "r2"]
    assert {r["status"] for r in runs.values()} == {"CLEANED"}
    assert store.set_status("runs", saga_id, ["gone"], "CLEANED") == 0
    assert store.set_status("runs", saga_id, [], "CLEANED") == 0


def test_set_status_handles_more_items_than_one_transaction(stack: Any) -> None:
    store = DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    ids = [f"r{i:03d}" for i in range(130)]
    store.record(saga_id, "Execution", "runs", [{"test_id": i} for i in ids])

    assert store.set_status("runs", saga_id, [*ids, "missing"], "CLEANED") == 130
    assert {r["status"] for r in store.items("runs", saga_id)} == {"CLEANED"}


def test_a_compensation_fences_its_step_once(stack: Any, request_doc: Any, monkeypatch: Any) -> None:
    fenced: list[str] = []
    begin = DynamoSagaStore.begin_compensation

    def counting(self: DynamoSagaStore, saga_id: str, step: str) -> dict[str, Any]:
        fenced.append(step)
        return begin(self, saga_id, step)

    monkeypatch.setattr(DynamoSagaStore, "begin_compensation", counting)
    described = stack.run(request_doc, faults={"Execution": {"mode": "permanent"}})

    assert described["error"] == "SagaRolledBack"
    assert sorted(fenced) == ["Execution", "Generation", "Requirements"]  # one write each
