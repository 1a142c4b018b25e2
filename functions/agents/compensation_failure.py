"""A compensation that exhausted its retries: what is left to undo, as a dead letter.

Exactly one dead letter per failed run of an execution (a redrive is another run), whoever
sends it and however often it is retried: ``ReportCompensationFailure`` (retried by the state
machine), or SagaEvents when the execution ends ``CompensationFailed`` without one (the
reporter failed every attempt).
``report_once`` does it in three moves:

1. a claim records, per execution, the message id of its letter: found, nothing is sent;
2. the send is deduplicated per execution (a FIFO queue, ``deduplication_id``): an attempt
   that sent and then failed before 3. is retried within seconds, well inside SQS's
   5-minute window, so the second send is dropped;
3. the claim is written, first writer wins: a later sender, even hours later (EventBridge
   retries an event for 6 hours) or after the letter was consumed by a resume, skips.

Claim first and send second would lose the letter when the attempt fails in between;
dedup alone would not cover a fallback sent after the window. A duplicate is left only if
a send succeeded, its claim write failed, and the next sender came over 5 minutes later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from functions.agents.ledger import left_to_undo
from functions.common.store import SagaStore

RESUME = (
    "fix the cause, then run the remaining compensations: POST /sagas/{saga_id}/resume "
    "(stepsaga saga resume <saga_id> --wait); step by step: stepsaga resume <saga_id> on the "
    "local stack, docs/RELIABILITY.md on AWS"
)

Send = Callable[[str], str]  # a message body -> its message id (the dead-letter queue)


@dataclass(frozen=True)
class Reported:
    message_id: str
    left_to_undo: dict[str, dict[str, list[str]]]
    already_sent: bool = False  # an earlier attempt (or the other sender) sent the letter


class Claims(Protocol):
    """Which executions' dead letters were sent (``functions.handlers.compensation_failure``)."""

    def sent(self, execution_arn: str) -> str | None:
        """The message id recorded for the execution's letter, if one was sent."""
        ...

    def record(self, execution_arn: str, message_id: str) -> None:
        """Record the letter as sent; a record already there is kept (first writer wins)."""
        ...


def run_key(execution_arn: str, redrive_count: int = 0) -> str:
    """Whose letter it is: one run of an execution. A redriven execution whose rollback fails
    again is a new failure with its own letter; the first run's key is the ARN itself."""
    return f"{execution_arn}#redrive-{redrive_count}" if redrive_count else execution_arn


def deduplication_id(execution_arn: str) -> str:
    """The letter's SQS deduplication (and group) id: one per execution, within SQS's 128
    characters and alphabet whatever the ARN holds."""
    return hashlib.sha256(execution_arn.encode()).hexdigest()


# An SQS message holds 256 KiB (the embedded stack's limit; AWS allows 1 MiB): a letter names
# at most this many ids and then counts them all. Resuming reads the ledger, which holds every
# id, so a shortened letter loses nothing an operator needs.
MAX_IDS_NAMED = 1_000


def dead_letter(
    saga_id: str, execution_arn: str, failure: dict[str, Any], remaining: dict[str, dict[str, list[str]]]
) -> dict[str, Any]:
    """What an operator needs to resume the saga: the failure and the ids still to undo."""
    letter: dict[str, Any] = {
        "saga_id": saga_id,
        "execution_arn": execution_arn,
        "error": failure.get("Error"),
        "cause": failure.get("Cause"),
        "left_to_undo": remaining,
        "resume": RESUME,
    }
    total = sum(len(ids) for kinds in remaining.values() for ids in kinds.values())
    if total > MAX_IDS_NAMED:
        named: dict[str, dict[str, list[str]]] = {}
        budget = MAX_IDS_NAMED
        for step, kinds in remaining.items():
            for kind, ids in kinds.items():
                named.setdefault(step, {})[kind] = ids[: max(budget, 0)]
                budget -= len(ids)
        letter["left_to_undo"] = named
        letter["left_to_undo_counts"] = {
            step: {kind: len(ids) for kind, ids in kinds.items()} for step, kinds in remaining.items()
        }
        letter["truncated"] = f"names {MAX_IDS_NAMED} of {total} ids; the ledger holds them all"
    return letter


def report(
    store: SagaStore,
    send: Send,
    saga_id: str,
    execution_arn: str,
    failure: dict[str, Any],
    redrive_count: int = 0,
) -> Reported:
    """Send the saga's dead letter, with what its ledger still holds."""
    remaining = left_to_undo(store.ledger(saga_id))
    letter = dead_letter(saga_id, execution_arn, failure, remaining)
    if redrive_count:
        letter["redrive_count"] = redrive_count
    message_id = send(json.dumps(letter))
    return Reported(message_id=message_id, left_to_undo=remaining)


def report_once(
    store: SagaStore,
    claims: Claims,
    send: Send,
    saga_id: str,
    execution_arn: str,
    failure: dict[str, Any],
    redrive_count: int = 0,
) -> Reported:
    """``report``, unless this run's letter was sent already. ``send`` must deduplicate on
    ``deduplication_id(run_key(execution_arn, redrive_count))`` (see the module's docstring)."""
    key = run_key(execution_arn, redrive_count)
    recorded = claims.sent(key)
    if recorded is not None:
        return Reported(recorded, left_to_undo(store.ledger(saga_id)), already_sent=True)
    reported = report(store, send, saga_id, execution_arn, failure, redrive_count)
    claims.record(key, reported.message_id)
    return reported
