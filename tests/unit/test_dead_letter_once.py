"""functions/agents/compensation_failure.report_once: one dead letter per execution, whatever
its senders' retries (the reporter's, then SagaEvents' fallback)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.agents.compensation_failure import deduplication_id, report_once, run_key
from functions.common.store import ACTIVE

pytestmark = pytest.mark.unit

ARN = "arn:aws:states:eu-west-1:123456789012:execution:StepSaga-test-generation:saga-1"


class _Store:
    def ledger(self, saga_id: str) -> dict[str, dict[str, Any]]:
        return {"Requirements": {"status": ACTIVE, "created_scenarios": ["sc-1"]}}


class _Claims:
    def __init__(self, fail_records: int = 0) -> None:
        self.recorded: dict[str, str] = {}
        self.fail_records = fail_records

    def sent(self, execution_arn: str) -> str | None:
        return self.recorded.get(execution_arn)

    def record(self, execution_arn: str, message_id: str) -> None:
        if self.fail_records:
            self.fail_records -= 1
            raise ConnectionError("claim write lost")
        self.recorded.setdefault(execution_arn, message_id)


class _FifoQueue:
    """A FIFO queue's deduplication (within its window), keyed as the handler keys it."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self.sends = 0

    def sender(self, execution_arn: str, fail_after: int = 0) -> Any:
        def send(body: str) -> str:
            self.sends += 1
            self.messages.setdefault(deduplication_id(execution_arn), body)
            if self.sends <= fail_after:
                raise TimeoutError("sent, but the answer was lost")
            return f"m-{self.sends}"

        return send


def _report(claims: _Claims, send: Any) -> Any:
    return report_once(_Store(), claims, send, "saga-1", ARN, {"Error": "AgentPermanentError"})  # type: ignore[arg-type]


def test_a_retry_after_the_letter_was_recorded_sends_nothing():
    queue, claims = _FifoQueue(), _Claims()
    first = _report(claims, queue.sender(ARN))
    again = _report(claims, queue.sender(ARN))
    assert (first.already_sent, again.already_sent) == (False, True)
    assert again.message_id == first.message_id == "m-1"
    assert queue.sends == 1 and len(queue.messages) == 1


def test_an_attempt_that_sent_and_failed_leaves_one_letter_after_its_retry():
    queue, claims = _FifoQueue(), _Claims()
    with pytest.raises(TimeoutError):
        _report(claims, queue.sender(ARN, fail_after=1))
    assert claims.recorded == {}  # nothing recorded: the retry must send (deduplicated)
    retried = _report(claims, queue.sender(ARN))
    assert not retried.already_sent
    assert len(queue.messages) == 1 and claims.recorded == {ARN: retried.message_id}


def test_a_lost_claim_write_is_covered_by_the_queues_deduplication():
    queue, claims = _FifoQueue(), _Claims(fail_records=1)
    with pytest.raises(ConnectionError):
        _report(claims, queue.sender(ARN))
    _report(claims, queue.sender(ARN))
    assert queue.sends == 2 and len(queue.messages) == 1


def test_the_fallback_sends_the_letter_the_reporter_never_sent():
    queue, claims = _FifoQueue(), _Claims()
    fallback = _report(claims, queue.sender(ARN))
    assert not fallback.already_sent
    [body] = queue.messages.values()
    assert json.loads(body)["left_to_undo"] == {"Requirements": {"scenarios": ["sc-1"]}}


def test_deduplication_ids_fit_sqs_and_differ_per_execution():
    other = ARN.replace("saga-1", "saga-2")
    long_arn = ARN + "x" * 200
    assert deduplication_id(ARN) != deduplication_id(other)
    assert len(deduplication_id(long_arn)) <= 128 and deduplication_id(long_arn).isalnum()


def test_a_letter_for_the_largest_saga_fits_one_sqs_message_and_counts_every_id() -> None:
    import json

    from functions.agents.compensation_failure import MAX_IDS_NAMED, dead_letter

    runs = [f"run-{i:05d}-{'x' * 60}" for i in range(3_000)]
    artifacts = [f"runs/{'s' * 64}/test-{i:05d}/artifact.json" for i in range(3_000)]
    remaining = {"Execution": {"runs": runs, "artifacts": artifacts}, "Generation": {"tests": ["t1", "t2"]}}
    letter = dead_letter("s" * 64, "arn:exec", {"Error": "E", "Cause": "C"}, remaining)
    assert len(json.dumps(letter).encode()) < 256 * 1024
    assert letter["left_to_undo_counts"] == {
        "Execution": {"runs": 3_000, "artifacts": 3_000},
        "Generation": {"tests": 2},
    }
    named = [i for kinds in letter["left_to_undo"].values() for ids in kinds.values() for i in ids]
    assert len(named) == MAX_IDS_NAMED
    assert "6002" in letter["truncated"]


def test_a_small_letter_names_every_id_and_is_not_marked_shortened() -> None:
    from functions.agents.compensation_failure import dead_letter

    remaining = {"Requirements": {"scenarios": ["a", "b"]}}
    letter = dead_letter("s", "arn:exec", {}, remaining)
    assert letter["left_to_undo"] == remaining
    assert "truncated" not in letter and "left_to_undo_counts" not in letter


def test_a_redriven_run_that_fails_again_gets_its_own_letter_once():
    """A redrive is another run: its failure is new and needs its letter, though the first run's
    claim is there. Keyed by execution alone, the second failure sent nothing."""
    queue, claims = _FifoQueue(), _Claims()

    def report(run: int) -> Any:
        send = queue.sender(run_key(ARN, run))
        return report_once(_Store(), claims, send, "saga-1", ARN, {"Error": "X"}, run)  # type: ignore[arg-type]

    first, second, again = report(0), report(1), report(1)
    assert (first.already_sent, second.already_sent, again.already_sent) == (False, False, True)
    assert again.message_id == second.message_id != first.message_id
    assert len(queue.messages) == 2 and set(claims.recorded) == {ARN, f"{ARN}#redrive-1"}
    letters = [json.loads(body) for body in queue.messages.values()]
    assert [letter.get("redrive_count") for letter in letters] == [None, 1]
