"""The audit trail: an append-only record of everything that happened to a saga.

One DynamoDB item per event, partition key ``saga_id``, sort key
``<epoch_ms:013d>#<rank>#<suffix>``, each written with a conditional put
(``attribute_not_exists``), so a record is never overwritten. Events:

=====================  ==================================================  ==============================
type                   written by                                          fields
=====================  ==================================================  ==============================
``saga.started``       ``functions.handlers.saga_events`` (RUNNING)        saga_type, execution_arn
``step.started``       ``lambda_handler`` wrapper                          step, state, attempt [, item]
``step.succeeded``     wrapper (callback steps: their SendTaskSuccess)     step, state, attempt
``step.failed``        wrapper (callback steps: their SendTaskFailure)     step, state, attempt, error,
                                                                           message
``compensation.started``  wrapper                                          step (the one undone), state,
                                                                           rollback_error, rollback_cause
``step.compensated``   wrapper                                             step, state, undone
``compensation.failed``   wrapper                                          step, state, error, message
``signal``             ``functions.control.signals``                       signal, sender [, reason,
                                                                           priority]
``saga.finished``      ``functions.handlers.saga_events`` (terminal)       status, error, cause
=====================  ==================================================  ==============================

Writes happen only when ``AUDIT_TABLE`` is set; without it every function here is a no-op.
``read(saga_id)`` returns the ordered record from the table alone (never the execution
history). Order is by event time in milliseconds; within one millisecond ``saga.started``
comes first, then a ``signal``, ``saga.finished`` last, and events written by one process in
write order. A signal's time is when it was received, before it took effect.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.names import ENV_AUDIT_TABLE as AUDIT_TABLE_ENV
from functions.common.observability import logger, metric
from functions.common.store import from_item, to_item

SAGA_STARTED = "saga.started"
STEP_STARTED = "step.started"
STEP_SUCCEEDED = "step.succeeded"
STEP_FAILED = "step.failed"
COMPENSATION_STARTED = "compensation.started"
STEP_COMPENSATED = "step.compensated"
COMPENSATION_FAILED = "compensation.failed"
SIGNAL = "signal"
SAGA_FINISHED = "saga.finished"

# Within one millisecond: the start first, then a signal (before what it set off), the outcome last.
_RANK = {SAGA_STARTED: 0, SIGNAL: 4, SAGA_FINISHED: 9}
_MAX_TEXT = 2000
_MAX_DETAIL_JSON = 8000
_seq = itertools.count()
_seq_lock = threading.Lock()


def table_from_env() -> str | None:
    return os.environ.get(AUDIT_TABLE_ENV) or None


def now_ms() -> int:
    return int(time.time() * 1000)


def sort_key(at_ms: int, event_type: str, suffix: str | None = None) -> str:
    if suffix is None:
        with _seq_lock:
            seq = next(_seq)
        suffix = f"{seq:010d}-{uuid.uuid4().hex[:8]}"
    return f"{at_ms:013d}#{_RANK.get(event_type, 5)}#{suffix}"


def text(value: object) -> str:
    """A message or cause, bounded (a DynamoDB item holds at most 400 KB)."""
    s = str(value)
    return s if len(s) <= _MAX_TEXT else s[: _MAX_TEXT - 1] + "…"


def bounded(detail: Any) -> Any:
    """A JSON-able detail kept whole when small, otherwise lists replaced by their lengths."""
    try:
        encoded = json.dumps(detail, default=str)
    except (TypeError, ValueError):
        return text(detail)
    if len(encoded) <= _MAX_DETAIL_JSON:
        return json.loads(encoded)
    if isinstance(detail, dict):
        return {k: (f"{len(v)} items" if isinstance(v, list | dict) else text(v)) for k, v in detail.items()}
    return text(encoded)


def put_request(
    saga_id: str,
    event_type: str,
    *,
    table: str | None = None,
    at_ms: int | None = None,
    key: str | None = None,
    **fields: Any,
) -> dict[str, Any] | None:
    """The conditional PutItem that records one event (None without a table): ``append``
    sends it alone; a caller may put it in a transaction of its own writes instead."""
    table = table or table_from_env()
    if not table:
        return None
    at = now_ms() if at_ms is None else int(at_ms)
    document = {
        "saga_id": saga_id,
        "sk": sort_key(at, event_type, key),
        "type": event_type,
        "at": at,
        **{k: v for k, v in fields.items() if v is not None},
    }
    return {
        "TableName": table,
        "Item": to_item(document),
        "ConditionExpression": "attribute_not_exists(saga_id) AND attribute_not_exists(sk)",
    }


def append(
    saga_id: str,
    event_type: str,
    *,
    table: str | None = None,
    at_ms: int | None = None,
    key: str | None = None,
    **fields: Any,
) -> bool:
    """Append one event; False if ``key`` (a deterministic suffix) was already recorded.

    Without a table (argument or ``AUDIT_TABLE``) nothing is written and False is returned.
    """
    request = put_request(saga_id, event_type, table=table, at_ms=at_ms, key=key, **fields)
    if request is None:
        return False
    try:
        aws.client("dynamodb").put_item(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False  # a redelivered event with a deterministic key: already recorded
        raise
    return True


def safely(saga_id: str, event_type: str, **fields: Any) -> bool:
    """``append``, but a failed audit write is logged and counted instead of failing the caller."""
    try:
        return append(saga_id, event_type, **fields)
    except Exception:
        logger.exception("audit write failed", extra={"audit_type": event_type})
        metric("AuditWriteFailed")
        return False


def stable_suffix(*parts: object) -> str:
    """A deterministic sort-key suffix, for events that may be delivered more than once."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def read(saga_id: str, *, table: str | None = None) -> list[dict[str, Any]]:
    """The saga's audit record, oldest first (each event: ``id``, ``type``, ``at`` and its fields)."""
    table = table or table_from_env()
    if not table:
        raise ValueError(f"no audit table: pass table= or set {AUDIT_TABLE_ENV}")
    ddb = aws.client("dynamodb")
    events: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "saga_id = :s",
        "ExpressionAttributeValues": {":s": {"S": saga_id}},
        "ConsistentRead": True,
    }
    while True:
        response = ddb.query(**arguments)
        for item in response.get("Items", []):
            record = from_item(item)
            record["id"] = record.pop("sk")
            record.pop("saga_id", None)
            events.append(record)
        if not response.get("LastEvaluatedKey"):
            break
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    events.sort(key=lambda e: e["id"])
    return events


def signal(saga_id: str, name: str, sender: str | None, *, at_ms: int | None = None, **details: Any) -> None:
    """Record an accepted signal and who sent it (no-op without ``AUDIT_TABLE``).

    ``at_ms`` is when the signal was received: it is recorded once it has been accepted, by
    which time the steps it set off may have written their own events.
    """
    if table_from_env():
        safely(saga_id, SIGNAL, at_ms=at_ms, signal=name, sender=sender or "unknown", **details)


__all__ = [
    "AUDIT_TABLE_ENV",
    "COMPENSATION_FAILED",
    "COMPENSATION_STARTED",
    "SAGA_FINISHED",
    "SAGA_STARTED",
    "SIGNAL",
    "STEP_COMPENSATED",
    "STEP_FAILED",
    "STEP_STARTED",
    "STEP_SUCCEEDED",
    "append",
    "read",
    "signal",
]
