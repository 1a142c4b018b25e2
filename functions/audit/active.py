"""How many sagas of each type are running: one counter per type in DynamoDB.

Table ``ACTIVE_SAGAS_TABLE`` (partition key ``id``) holds ``type#<saga_type>`` counters and one
``execution#<arn>#<redrive count>`` item per execution with the last status applied to the
counter. Every change is one transaction: a conditional update of the execution's item and
an atomic ``ADD`` on the counter, so a redelivered or out-of-order status event is applied
at most once:

- RUNNING applies only to an execution never seen (+1);
- a terminal status applies to a RUNNING execution (-1), or records an execution whose
  RUNNING event has not arrived yet (0; that late RUNNING is then ignored);
- anything else (a duplicate) changes nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.names import ENV_ACTIVE_SAGAS_TABLE as ACTIVE_SAGAS_TABLE_ENV

RUNNING = "RUNNING"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_RETENTION_SECONDS = 90 * 24 * 3600  # execution items expire (TTL ``expires``); counters do not


@dataclass(frozen=True)
class Applied:
    """What one status event did: whether it was new, and the counter after it."""

    applied: bool
    delta: int
    count: int | None
    recorded: bool = False  # the ``record`` PutItem was written in the counter's transaction


def table_from_env() -> str | None:
    return os.environ.get(ACTIVE_SAGAS_TABLE_ENV) or None


def _counter_key(saga_type: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"type#{saga_type}"}}


def _execution_key(execution_arn: str, redrive_count: int) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"execution#{execution_arn}#{redrive_count}"}}


def _conditional_failed(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


def count(saga_type: str, *, table: str | None = None) -> int:
    table = table or table_from_env()
    if not table:
        raise ValueError(f"no active-sagas table: pass table= or set {ACTIVE_SAGAS_TABLE_ENV}")
    item = (
        aws.client("dynamodb")
        .get_item(TableName=table, Key=_counter_key(saga_type), ConsistentRead=True)
        .get("Item")
    )
    return int(item["count"]["N"]) if item and "count" in item else 0


def apply(
    saga_type: str,
    execution_arn: str,
    status: str,
    *,
    redrive_count: int = 0,
    table: str | None = None,
    record: dict[str, Any] | None = None,
) -> Applied:
    """Apply one execution status change to the counter of its saga type (idempotent).

    ``record``, a conditional PutItem (the change's audit event), is written in the same
    transaction when the counter moves: one call instead of two. ``recorded`` says whether it
    was; when not (a duplicate, a change that moves no counter, no table), the caller writes it.
    """
    table = table or table_from_env()
    if not table:
        return Applied(applied=True, delta=0, count=None)  # nothing to keep: every event is "new"
    riding: dict[str, Any] = {"record": record}
    ddb = aws.client("dynamodb")
    expires = {"N": str(int(time.time()) + _RETENTION_SECONDS)}
    status_update = {
        "TableName": table,
        "Key": _execution_key(execution_arn, redrive_count),
        "UpdateExpression": "SET #s = :s, saga_type = :t, expires = :e",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    values = {":s": {"S": status}, ":t": {"S": saga_type}, ":e": expires}

    def transition(condition: str, extra: dict[str, dict[str, str]], delta: int) -> bool:
        update = {
            **status_update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {**values, **extra},
        }
        counter = {
            "TableName": table,
            "Key": _counter_key(saga_type),
            "UpdateExpression": "ADD #c :d",
            "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": {":d": {"N": str(delta)}},
        }
        try:
            if delta == 0:
                ddb.update_item(**update)
                return True
            rider = riding["record"]
            writes = [{"Update": update}, {"Update": counter}, *([{"Put": rider}] if rider else [])]
            try:
                ddb.transact_write_items(TransactItems=writes)
            except ClientError as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                if rider is None or reasons[:2] != ["None", "None"] or len(reasons) != 3:
                    raise
                # Only the record was refused (it is already there): the change without it.
                riding["record"] = None
                ddb.transact_write_items(TransactItems=writes[:2])
                return True
            riding["record"] = None
            riding["recorded"] = rider is not None
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    if status == RUNNING:
        applied = transition("attribute_not_exists(#s)", {}, +1)
        delta = 1 if applied else 0
    elif status in TERMINAL:
        delta = -1
        applied = transition("#s = :running", {":running": {"S": RUNNING}}, -1)
        if not applied:
            delta = 0
            applied = transition("attribute_not_exists(#s)", {}, 0)
    else:
        return Applied(applied=False, delta=0, count=None)
    return Applied(
        applied=applied,
        delta=delta,
        count=count(saga_type, table=table),
        recorded=bool(riding.get("recorded")),
    )
