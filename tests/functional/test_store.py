"""DynamoSagaStore's compensation writes, on the embedded stack's own tables."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from typing import Any

import pytest

from functions.agents.ledger import created
from functions.common import store as store_module
from functions.common.errors import SagaFenced
from functions.common.store import LEDGER_KEY, DynamoSagaStore, ledger_entry, merged_ledger
from infra import names


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


def _ledger_items(stack: Any, saga_id: str) -> list[dict[str, Any]]:
    """Every ledger item of a saga, entries and chunks, as stored."""
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.settings().ledger_table)
    return [i for page in pages for i in page["Items"] if saga_id in i[LEDGER_KEY]["S"]]


def test_no_ledger_item_grows_with_what_a_step_created(stack: Any) -> None:
    """Issue 12: 4,000 runs of a saga with a 64-character id once grew Execution's entry past
    DynamoDB's 400 KB, and neither the step nor its compensation could write it again."""
    store = DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex}"[:64].ljust(64, "x")
    ids = [f"t-{n // 100:02d}-{n:08x}-{n % 100}" for n in range(4000)]
    store.record_artifacts(saga_id, "Execution", [f"runs/{saga_id}/{i}.json" for i in ids])
    store.record(saga_id, "Execution", "runs", [{"test_id": i, "detail": "ok"} for i in ids])

    items = _ledger_items(stack, saga_id)
    sizes = [len(json.dumps(i)) for i in items]
    assert max(sizes) < 100_000  # each chunk holds at most CHUNK_IDS ids, the entry none
    entry = next(i for i in items if i[LEDGER_KEY]["S"] == ledger_entry("Execution", saga_id))
    assert "created_runs" not in entry and len(json.dumps(entry)) < 1_000

    assert sorted(store.ledger(saga_id)["Execution"]["created_runs"]) == sorted(ids)
    fenced = store.begin_compensation(saga_id, "Execution")  # reads the chunks consistently
    assert created(fenced, "runs") == sorted(ids)
    assert len(created(fenced, "artifacts")) == 4000
    with pytest.raises(SagaFenced):  # the fence holds for a new chunk too
        store.record(saga_id, "Execution", "runs", [{"test_id": "late"}])
    assert store.get("runs", saga_id, "late") is None
    assert store.finish_compensation(saga_id, "Execution", 4000)
    assert created(store.begin_compensation(saga_id, "Execution"), "runs") == sorted(ids)


def test_a_chunk_whose_transaction_failed_is_skipped(stack: Any, monkeypatch: Any) -> None:
    """A chunk number reserved by an attempt that then failed leaves a gap, not an error."""
    store = DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(store_module, "_guess_chunk", lambda hint: None)  # reserve every number
    store.record(saga_id, "Generation", "tests", [{"test_id": "t-1"}])
    real = store._transact_through_conflicts

    def fail_once(writes: list[dict[str, Any]]) -> None:
        monkeypatch.setattr(store, "_transact_through_conflicts", real)
        raise RuntimeError("lost")

    monkeypatch.setattr(store, "_transact_through_conflicts", fail_once)
    with pytest.raises(RuntimeError):
        store.record(saga_id, "Generation", "tests", [{"test_id": "t-2"}])
    store.record(saga_id, "Generation", "tests", [{"test_id": "t-3"}])

    entry = store.begin_compensation(saga_id, "Generation")
    assert entry["chunks"] == 3
    assert created(entry, "tests") == ["t-1", "t-3"]


def test_the_index_s_entries_and_chunks_fold_into_one_entry_per_step() -> None:
    folded = merged_ledger(
        [
            {
                "step": "Execution",
                "status": "ACTIVE",
                "chunks": 2,
                "created_runs": ["t-0"],
            },  # written before chunks
            {"step": "Execution#1", "created_runs": ["t-2", "t-1"]},
            {"step": "Execution#0", "created_artifacts": ["runs/s/t-1.json"]},
            {"step": "Generation", "status": "COMPENSATED"},
        ]
    )
    assert folded == {
        "Execution": {
            "step": "Execution",
            "status": "ACTIVE",
            "created_runs": ["t-0", "t-1", "t-2"],
            "created_artifacts": ["runs/s/t-1.json"],
        },
        "Generation": {"step": "Generation", "status": "COMPENSATED"},
    }


def test_a_chunk_number_handed_out_twice_loses_no_id(stack: Any, monkeypatch: Any) -> None:
    """DynamoDB's counter is atomic; the embedded stack's UPDATED_NEW was once read after a
    concurrent increment, giving two parallel Map items one number (6 of 3,000 runs lost)."""
    store = DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(store_module, "_guess_chunk", lambda hint: None)
    monkeypatch.setattr(store, "_reserve_chunk", lambda saga_id, step: 0)
    store.record_artifacts(saga_id, "Execution", ["runs/s/t-1.json"])
    store.record(saga_id, "Execution", "runs", [{"test_id": "t-1"}])
    store.record(saga_id, "Execution", "runs", [{"test_id": "t-2"}])
    monkeypatch.undo()
    store._ddb.update_item(  # the entry's count, as one reservation would have left it
        TableName=stack.settings().ledger_table,
        Key={LEDGER_KEY: {"S": ledger_entry("Execution", saga_id)}},
        UpdateExpression="SET chunks = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    entry = store.begin_compensation(saga_id, "Execution")
    assert (created(entry, "runs"), created(entry, "artifacts")) == (["t-1", "t-2"], ["runs/s/t-1.json"])


def test_a_guessed_chunk_number_taken_by_another_writer_is_reserved_instead(stack: Any) -> None:
    """A step's chunk number is guessed and taken in its data's transaction (one call); when
    another writer took it first, the transaction is refused whole and the number reserved."""
    store, other = DynamoSagaStore(stack.settings()), DynamoSagaStore(stack.settings())
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    calls: list[str] = []
    events = store._ddb.meta.events
    events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name), "guess-test")
    try:
        store.record(saga_id, "Generation", "tests", [{"test_id": "t-1"}])
        assert calls == ["TransactWriteItems"]  # chunk 0 taken with the data, no reservation
        store_module._NEXT_CHUNK.pop((saga_id, "Generation"))  # as another process would see it
        calls.clear()
        other.record(saga_id, "Generation", "tests", [{"test_id": "t-2"}])  # guesses 0: taken
        assert calls == ["TransactWriteItems", "UpdateItem", "TransactWriteItems"]
    finally:
        events.unregister("before-call.dynamodb.*", unique_id="guess-test")

    entry = store.begin_compensation(saga_id, "Generation")
    assert entry["chunks"] == 2
    assert created(entry, "tests") == ["t-1", "t-2"]
    assert sorted(i["test_id"] for i in store.items("tests", saga_id)) == ["t-1", "t-2"]
    with pytest.raises(SagaFenced):  # a guess on a fenced entry ends fenced, not written
        store.record(saga_id, "Generation", "tests", [{"test_id": "late"}])
    assert store.get("tests", saga_id, "late") is None


def test_the_chunk_guesses_survive_threads_evicting_at_once() -> None:
    """A long-lived process (the embedded stack, a warm Lambda running a Map's items on threads)
    fills the guess table and evicts on every write: iterating it while another thread writes
    raised ``dictionary changed size during iteration``."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for number in range(20_000):
                store_module._remember_chunk((f"s{thread}-{number}", "Execution"), number)
        except BaseException as error:  # any error is the finding
            errors.append(error)

    threads = [threading.Thread(target=write, args=(thread,)) for thread in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == [] and len(store_module._NEXT_CHUNK) == store_module._NEXT_CHUNK_KEPT


def test_artifact_keys_reads_past_the_first_page(stack: Any) -> None:
    # A saga of MAX_TESTS tests has that many artifacts; ListObjectsV2 answers 1,000 at a time,
    # and `stepsaga run` and the rollback assertions count them all.
    saga_id = f"store-{uuid.uuid4().hex[:10]}"
    s3 = stack.client("s3")
    bucket = stack.outputs[names.OUT_ARTIFACTS_BUCKET]
    for n in range(1_001):
        s3.put_object(Bucket=bucket, Key=f"runs/{saga_id}/t{n:04d}.json", Body=b"{}")

    assert len(stack.artifact_keys(saga_id)) == 1_001
