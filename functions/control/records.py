"""The Sagas table: one item per saga that steers it (approval token, priority, signals).

The task token is a capability: whoever holds it can finish the gate. It is written here
by the gate's handler, taken (and deleted) atomically by the first valid signal, and never
returned to a client.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.store import from_item

# The gate's status in a saga's record: waiting, then what the signal that answered it decided.
AWAITING_APPROVAL, APPROVED, CANCELLED = "AWAITING_APPROVAL", "APPROVED", "CANCELLED"
DEFAULT_PRIORITY = "normal"
PUBLIC_FIELDS = ("saga_id", "status", "priority", "approval_requested_at", "signals")


def _now_ms() -> int:
    return int(time.time() * 1000)


class SagaRecords:
    def __init__(self, table: str) -> None:
        self._table = table
        self._ddb = aws.client("dynamodb")

    def get(self, saga_id: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(
            TableName=self._table, Key={"saga_id": {"S": saga_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def public(self, saga_id: str) -> dict[str, Any]:
        record = self.get(saga_id) or {}
        return {k: record[k] for k in PUBLIC_FIELDS if k in record}

    def priority(self, saga_id: str) -> str:
        """The priority alone: agents may read no other attribute (the task token is a capability;
        their IAM policy allows GetItem of ``saga_id`` and ``priority`` only)."""
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"saga_id": {"S": saga_id}},
            ProjectionExpression="#p",
            ExpressionAttributeNames={"#p": "priority"},
            ConsistentRead=True,
        )
        return str(from_item(response.get("Item") or {}).get("priority", DEFAULT_PRIORITY))

    def await_approval(self, saga_id: str, execution_arn: str, token: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"saga_id": {"S": saga_id}},
            UpdateExpression="SET #s = :waiting, task_token = :t, execution_arn = :e, "
            "approval_requested_at = :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":waiting": {"S": AWAITING_APPROVAL},
                ":t": {"S": token},
                ":e": {"S": execution_arn},
                ":now": {"N": str(_now_ms())},
            },
        )

    def take_token(self, saga_id: str, new_status: str, signal: dict[str, Any]) -> str | None:
        """Atomically move a waiting saga to ``new_status`` and hand back its token (None if not waiting)."""
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key={"saga_id": {"S": saga_id}},
                UpdateExpression="SET #s = :new, "
                "signals = list_append(if_not_exists(signals, :empty), :signal) REMOVE task_token",
                ConditionExpression="#s = :waiting",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":new": {"S": new_status},
                    ":waiting": {"S": AWAITING_APPROVAL},
                    ":empty": {"L": []},
                    ":signal": {"L": [_signal_item(signal)]},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return str(response["Attributes"]["task_token"]["S"])

    def restore_token(self, saga_id: str, token: str) -> None:
        """Undo ``take_token`` after a signal could not be delivered: the saga waits again."""
        self._ddb.update_item(
            TableName=self._table,
            Key={"saga_id": {"S": saga_id}},
            UpdateExpression="SET #s = :waiting, task_token = :t",
            ConditionExpression="attribute_not_exists(task_token)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":waiting": {"S": AWAITING_APPROVAL}, ":t": {"S": token}},
        )

    def set_priority(self, saga_id: str, priority: str, signal: dict[str, Any]) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"saga_id": {"S": saga_id}},
            UpdateExpression="SET priority = :p, "
            "signals = list_append(if_not_exists(signals, :empty), :signal)",
            ExpressionAttributeValues={
                ":p": {"S": priority},
                ":empty": {"L": []},
                ":signal": {"L": [_signal_item(signal)]},
            },
        )


def _signal_item(signal: dict[str, Any]) -> dict[str, Any]:
    fields = {k: {"S": str(v)} for k, v in signal.items() if v is not None}
    fields["at"] = {"N": str(_now_ms())}
    return {"M": fields}
