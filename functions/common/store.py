"""Repositories: the business data each agent owns and the ledger of what it created.

Every forward write goes through ``SagaStore.record``: the items and the ledger entry that
names them are written in one DynamoDB transaction, so the ledger never disagrees with the
data. The ledger entry is also the fence: once a compensation has started for a step, a
late attempt of that step (a zombie whose task timed out) can no longer write.

A ledger entry is keyed ``<step>#<saga_id>`` (``ledger_entry``), not (saga_id, step): IAM
sees only a partition key (``dynamodb:LeadingKeys``), so with the step leading it each
step's function and its compensation are granted their own step's entries and no other
(docs/ARCHITECTURE.md, "Least privilege"). Readers of a whole saga's ledger query the
``by_saga`` index (saga_id, step).

No ledger item grows with the work a step does (DynamoDB refuses an item past 400 KB, and a
step that cannot write its entry cannot be fenced or compensated either). The entry holds the
status, the fence and a count of chunks; the ids a step created go to chunk items keyed
``<step>#<saga_id>#<n>`` (``ledger_chunk``), at most ``CHUNK_IDS`` ids each. A chunk number is
reserved on the entry first (an atomic counter, under the fence), then the chunk is written
in the same transaction as the data it names, with the fence checked again on the entry.
When this process can guess the number (a step's first chunk, or the one after the chunk it
last wrote), the reservation rides in that transaction instead, conditional on the count
still being the guess: one call instead of two, and a wrong guess is refused whole, then
retried the reserving way. The chunks share the entry's leading ``<step>#``, so IAM's
LeadingKeys still holds each step to its own; a compensation reads them by key and
consistently (``#0`` to ``#chunks-1``; a number reserved by an attempt that then failed is
simply missing). They carry ``saga_id`` and a
``step`` of ``<step>#<n>`` so the index lists them too, and ``ledger`` folds them back into
their entry as ``created_<kind>``. Saga ids never hold ``#`` (Step Functions refuses it in an
execution name), so an entry's key cannot be mistaken for a chunk's.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.errors import SagaFenced

if TYPE_CHECKING:  # annotations only: boto3 loads on first use; Settings would import pydantic
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from functions.common.settings import Settings

Kind = Literal["scenarios", "tests", "runs", "reports"]
KEYS: dict[str, str] = {
    "scenarios": "scenario_id",
    "tests": "test_id",
    "runs": "test_id",
    "reports": "report",
}

ACTIVE, COMPENSATING, COMPENSATED = "ACTIVE", "COMPENSATING", "COMPENSATED"
LEDGER_KEY = "entry"  # the ledger's partition key: ``ledger_entry(step, saga_id)``
LEDGER_BY_SAGA = "by_saga"  # the ledger's index: partition saga_id, sort step


def ledger_entry(step: str, saga_id: str) -> str:
    """A ledger entry's key. Step names are PascalCase (no ``#``), so ``<step>#*`` matches
    that step's entries only."""
    return f"{step}#{saga_id}"


def ledger_chunk(step: str, saga_id: str, number: int) -> str:
    """The key of one chunk of the ids a step created."""
    return f"{ledger_entry(step, saga_id)}#{number}"


def _ledger_key(saga_id: str, step: str) -> dict[str, Any]:
    return {LEDGER_KEY: {"S": ledger_entry(step, saga_id)}}


def merged_ledger(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Entries and chunks (as the index lists them) as one entry per step, with the ids of
    its chunks as ``created_<kind>`` and without the chunk count: that is storage, and a step
    delivered twice adds a chunk of the ids it already recorded, changing nothing it means."""
    entries: dict[str, dict[str, Any]] = {}
    chunks: list[dict[str, Any]] = []
    for item in items:
        if "#" in item["step"]:
            chunks.append(item)
        else:
            entries[item["step"]] = {k: v for k, v in item.items() if k != "chunks"}
    for chunk in chunks:
        step = chunk["step"].split("#", 1)[0]
        entry = entries.setdefault(step, {"step": step, "saga_id": chunk.get("saga_id")})
        _fold(entry, chunk)
    for entry in entries.values():
        for name, ids in entry.items():
            if name.startswith("created_") and isinstance(ids, set):
                entry[name] = sorted(ids)
    return entries


def _fold(entry: dict[str, Any], chunk: dict[str, Any]) -> None:
    """Add a chunk's ids to the entry's, as sets (an entry written before the ledger had
    chunks holds ids itself)."""
    for name, ids in chunk.items():
        if name.startswith("created_"):
            entry[name] = set(entry.get(name) or ()) | set(ids)


# Items per transaction: the ledger update and chunk plus a chunk of items stays under DynamoDB's 100.
CHUNK = 50
# Ids per ledger chunk: 500 artifact keys of at most ~200 bytes stay far below an item's 400 KB.
CHUNK_IDS = 500
_CONFLICT_RETRIES = 5
# Per (saga, step) this process wrote chunks for: the number it would take next, or None once
# a guess was wrong (parallel writers: reserve instead). Bounded, oldest forgotten first.
_NEXT_CHUNK: dict[tuple[str, str], int | None] = {}
_NEXT_CHUNK_KEPT = 1024
_NEXT_CHUNK_LOCK = threading.Lock()
_TRANSACTION = 100  # TransactWriteItems' limit
_BATCH_GET = 100  # BatchGetItem's limit


@lru_cache(maxsize=1)
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's DynamoDB (de)serializers, imported on first use, not with this module:
    ``boto3.dynamodb.types`` imports boto3 itself (~100 ms), which the first AWS call of an
    invocation needs anyway but a handler's import should not pay for."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(document: dict[str, Any]) -> dict[str, Any]:
    """A JSON-like dict as a DynamoDB item (floats as Decimal)."""
    serializer = _codec()[0]
    plain = json.loads(json.dumps(document), parse_float=Decimal)
    return {k: serializer.serialize(v) for k, v in plain.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _guess_chunk(hint: tuple[str, str]) -> int | None:
    return _NEXT_CHUNK.get(hint, 0)


def _remember_chunk(hint: tuple[str, str], number: int | None) -> None:
    # Threads share the table (a Map's items in one process): evicting iterates it.
    with _NEXT_CHUNK_LOCK:
        _NEXT_CHUNK.pop(hint, None)
        _NEXT_CHUNK[hint] = number
        while len(_NEXT_CHUNK) > _NEXT_CHUNK_KEPT:
            _NEXT_CHUNK.pop(next(iter(_NEXT_CHUNK)), None)


class SagaStore(Protocol):
    def record(self, saga_id: str, step: str, kind: Kind, items: Sequence[dict[str, Any]]) -> None: ...
    def record_artifacts(self, saga_id: str, step: str, keys: Sequence[str]) -> None: ...
    def items(self, kind: Kind, saga_id: str) -> list[dict[str, Any]]: ...
    def get(self, kind: Kind, saga_id: str, item_id: str) -> dict[str, Any] | None: ...
    def ledger(self, saga_id: str) -> dict[str, dict[str, Any]]: ...
    def begin_compensation(self, saga_id: str, step: str) -> dict[str, Any]: ...
    def finish_compensation(self, saga_id: str, step: str, undone: int) -> bool: ...
    def delete(self, kind: Kind, saga_id: str, ids: Iterable[str]) -> int: ...
    def set_status(self, kind: Kind, saga_id: str, ids: Iterable[str], status: str) -> int: ...


class DynamoSagaStore:
    def __init__(self, settings: Settings) -> None:
        self._tables: dict[str, str] = {
            "scenarios": settings.scenarios_table,
            "tests": settings.tests_table,
            "runs": settings.runs_table,
            "reports": settings.reports_table,
        }
        self._ledger = settings.ledger_table
        self._ddb = aws.client("dynamodb")

    # -- forward -------------------------------------------------------------------------
    def record(self, saga_id: str, step: str, kind: Kind, items: Sequence[dict[str, Any]]) -> None:
        key = KEYS[kind]
        if not items:
            self._transact([self._ledger_touch(saga_id, step)], saga_id, step)
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            puts = [
                {"Put": {"TableName": self._tables[kind], "Item": to_item({"saga_id": saga_id, **i})}}
                for i in chunk
            ]
            self._record_chunk(saga_id, step, kind, [str(i[key]) for i in chunk], puts)

    def record_artifacts(self, saga_id: str, step: str, keys: Sequence[str]) -> None:
        if not keys:
            self._transact([self._ledger_touch(saga_id, step)], saga_id, step)
        for start in range(0, len(keys), CHUNK_IDS):
            self._record_chunk(saga_id, step, "artifacts", list(keys[start : start + CHUNK_IDS]), [])

    def _record_chunk(
        self, saga_id: str, step: str, kind: str, ids: list[str], writes: list[dict[str, Any]]
    ) -> None:
        """The ids in a new chunk, with the data they name, in one transaction under the fence."""
        hint = (saga_id, step)
        guess = _guess_chunk(hint)
        if guess is not None:
            try:
                self._transact_through_conflicts(
                    [
                        self._ledger_claim(saga_id, step, guess),
                        self._chunk(saga_id, step, kind, ids, guess),
                        *writes,
                    ]
                )
            except ClientError as error:
                # The entry's condition: the guess was taken (another writer, an earlier
                # attempt) or the step is fenced. Either way nothing was written.
                if _cancellation_reasons(error)[:1] != ["ConditionalCheckFailed"]:
                    raise
                _remember_chunk(hint, None)  # contended: reserve from now on
            else:
                _remember_chunk(hint, guess + 1)
                return
        number = self._reserve_chunk(saga_id, step)
        self._transact(
            [self._ledger_touch(saga_id, step), self._chunk(saga_id, step, kind, ids, number), *writes],
            saga_id,
            step,
        )

    def _ledger_claim(self, saga_id: str, step: str, number: int) -> dict[str, Any]:
        """The touch that also takes chunk ``number``, provided it is the next one (``chunks``)."""
        touch = self._ledger_touch(saga_id, step)["Update"]
        counted = "attribute_not_exists(chunks)" if number == 0 else "chunks = :n"
        values = {**touch["ExpressionAttributeValues"], ":next": {"N": str(number + 1)}}
        if number:
            values[":n"] = {"N": str(number)}
        return {
            "Update": {
                **touch,
                "UpdateExpression": touch["UpdateExpression"] + ", chunks = :next",
                "ConditionExpression": f"({touch['ConditionExpression']}) AND {counted}",
                "ExpressionAttributeValues": values,
            }
        }

    def _chunk(self, saga_id: str, step: str, kind: str, ids: list[str], number: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._ledger,
                "Key": {LEDGER_KEY: {"S": ledger_chunk(step, saga_id, number)}},
                # ADD, a set union, not SET: were a number ever handed out twice (an emulator
                # whose counter is not atomic), the two writers' ids would both be kept.
                "UpdateExpression": "SET saga_id = :saga, #step = :step ADD #ids :ids",
                "ExpressionAttributeNames": {"#step": "step", "#ids": f"created_{kind}"},
                "ExpressionAttributeValues": {
                    ":saga": {"S": saga_id},
                    ":step": {"S": f"{step}#{number}"},
                    ":ids": {"SS": sorted(set(ids))},
                },
            }
        }

    def _reserve_chunk(self, saga_id: str, step: str) -> int:
        """The next chunk number of the step's entry (creating the entry), unless fenced.

        UpdateItem, as every ledger write: a step holds no PutItem on the ledger, which could
        replace a fenced entry with an open one."""
        touch = self._ledger_touch(saga_id, step)["Update"]
        request = {
            **touch,
            "UpdateExpression": touch["UpdateExpression"] + " ADD chunks :one",
            "ExpressionAttributeValues": {**touch["ExpressionAttributeValues"], ":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        }
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                response = self._ddb.update_item(**request)
                return int(response["Attributes"]["chunks"]["N"]) - 1
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code == "ConditionalCheckFailedException":
                    raise SagaFenced(
                        f"{step} of saga {saga_id} is being compensated; write refused"
                    ) from error
                # The entry is in another item's transaction (a parallel step's): not retried by the SDK.
                if code != "TransactionConflictException" or attempt == _CONFLICT_RETRIES:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    def _ledger_touch(self, saga_id: str, step: str) -> dict[str, Any]:
        """The entry's update: it exists and is ACTIVE; refused once compensation began."""
        return {
            "Update": {
                "TableName": self._ledger,
                "Key": _ledger_key(saga_id, step),
                "UpdateExpression": "SET #s = :active, #u = :now, saga_id = :saga, #step = :step",
                # The fence: no forward write once this step's compensation has begun.
                "ConditionExpression": "attribute_not_exists(#s) OR #s = :active",
                "ExpressionAttributeNames": {"#s": "status", "#u": "updated_at", "#step": "step"},
                "ExpressionAttributeValues": {
                    ":active": {"S": ACTIVE},
                    ":now": {"N": str(int(time.time() * 1000))},
                    ":saga": {"S": saga_id},
                    ":step": {"S": step},
                },
            }
        }

    def _transact(self, writes: list[dict[str, Any]], saga_id: str, step: str) -> None:
        try:
            self._transact_through_conflicts(writes)
        except ClientError as error:
            if _cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]:  # the ledger entry
                raise SagaFenced(f"{step} of saga {saga_id} is being compensated; write refused") from error
            raise

    def _transact_through_conflicts(self, writes: list[dict[str, Any]]) -> None:
        """TransactWriteItems, again (with jitter) while it only conflicts with others: the
        items of a parallel step update one ledger entry, and DynamoDB cancels one of two
        overlapping transactions, which the SDK does not retry."""
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                self._ddb.transact_write_items(TransactItems=writes)
                return
            except ClientError as error:
                failed = {code for code in _cancellation_reasons(error) if code not in (None, "None")}
                if failed != {"TransactionConflict"} or attempt == _CONFLICT_RETRIES:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))

    # -- reads ---------------------------------------------------------------------------
    def items(self, kind: Kind, saga_id: str) -> list[dict[str, Any]]:
        return self._query(self._tables[kind], saga_id)

    def get(self, kind: Kind, saga_id: str, item_id: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(
            TableName=self._tables[kind], Key=self._key(kind, saga_id, item_id), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None

    def ledger(self, saga_id: str) -> dict[str, dict[str, Any]]:
        """Every step's entry. From the index, so eventually consistent (within a second):
        its readers (status, the failure report) tolerate an entry a moment old; the steps
        themselves only ever touch their own entry, by key, consistently."""
        return merged_ledger(self._query(self._ledger, saga_id, index=LEDGER_BY_SAGA))

    def _with_chunks(self, entry: dict[str, Any], saga_id: str, step: str) -> dict[str, Any]:
        """The entry with the ids of its chunks, read by key and consistently."""
        keys = [
            {LEDGER_KEY: {"S": ledger_chunk(step, saga_id, n)}} for n in range(int(entry.get("chunks", 0)))
        ]
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self._ledger: {"Keys": keys[start : start + _BATCH_GET], "ConsistentRead": True}
            }
            for attempt in range(_CONFLICT_RETRIES * 4):
                response = self._ddb.batch_get_item(RequestItems=pending)
                found.extend(from_item(i) for i in response["Responses"].get(self._ledger, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(random.uniform(0, 0.05 * 2 ** min(attempt, 5)))
            else:
                raise RuntimeError(f"could not read the ledger chunks of {step} of saga {saga_id}")
        folded = {**entry}
        for chunk in found:
            _fold(folded, chunk)
        return {k: sorted(v) if isinstance(v, set) else v for k, v in folded.items()}

    def _query(self, table: str, saga_id: str, index: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self._ddb.get_paginator("query")
        where = {"IndexName": index} if index else {"ConsistentRead": True}  # an index reads only eventually
        pages = paginator.paginate(
            TableName=table,
            KeyConditionExpression="saga_id = :s",
            ExpressionAttributeValues={":s": {"S": saga_id}},
            **where,
        )
        for page in pages:
            found.extend(from_item(i) for i in page["Items"])
        return found

    # -- compensation --------------------------------------------------------------------
    def begin_compensation(self, saga_id: str, step: str) -> dict[str, Any]:
        """Fence the step against late writes and return its ledger entry.

        A step that never wrote gets an entry too, already fenced, so nothing it might still
        write later can escape the rollback.
        """
        key = _ledger_key(saga_id, step)
        try:
            # One conditional write: the entry it returns is exactly what was fenced, so a
            # late write cannot slip in between reading the ledger and closing it.
            response = self._ddb.update_item(
                TableName=self._ledger,
                Key=key,
                UpdateExpression="SET #s = :compensating, saga_id = :saga, #step = :step",
                ConditionExpression="attribute_not_exists(#s) OR #s IN (:active, :compensating)",
                ExpressionAttributeNames={"#s": "status", "#step": "step"},
                ExpressionAttributeValues={
                    ":compensating": {"S": COMPENSATING},
                    ":active": {"S": ACTIVE},
                    ":saga": {"S": saga_id},
                    ":step": {"S": step},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            response = self._ddb.get_item(TableName=self._ledger, Key=key, ConsistentRead=True)
            return self._with_chunks(from_item(response["Item"]), saga_id, step)  # already COMPENSATED
        return self._with_chunks(from_item(response["Attributes"]), saga_id, step)

    def finish_compensation(self, saga_id: str, step: str, undone: int) -> bool:
        """Mark the step compensated; False if an earlier run already did (idempotent)."""
        try:
            self._ddb.update_item(
                TableName=self._ledger,
                Key=_ledger_key(saga_id, step),
                UpdateExpression="SET #s = :done, undone = :undone, #u = :now ADD compensation_count :one",
                ConditionExpression="#s = :compensating",
                ExpressionAttributeNames={"#s": "status", "#u": "updated_at"},
                ExpressionAttributeValues={
                    ":done": {"S": COMPENSATED},
                    ":compensating": {"S": COMPENSATING},
                    ":undone": {"N": str(undone)},
                    ":one": {"N": "1"},
                    ":now": {"N": str(int(time.time() * 1000))},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, kind: Kind, saga_id: str, ids: Iterable[str]) -> int:
        # One DeleteItem per item: BatchWriteItem would save round trips, but its permission
        # also allows puts, and a compensation may only ever remove what its step wrote.
        count = 0
        for item_id in ids:
            self._ddb.delete_item(TableName=self._tables[kind], Key=self._key(kind, saga_id, item_id))
            count += 1
        return count

    def set_status(self, kind: Kind, saga_id: str, ids: Iterable[str], status: str) -> int:
        """Set the status of those items that exist (100 per transaction); how many there were.

        One transaction instead of one call per item: a rollback's round trips stay constant
        as a step's items grow (a transaction costs two write units per item; rollbacks are
        the rare path).
        """
        unique = list(dict.fromkeys(ids))
        return sum(
            self._set_existing(kind, saga_id, unique[start : start + _TRANSACTION], status)
            for start in range(0, len(unique), _TRANSACTION)
        )

    def _set_existing(self, kind: Kind, saga_id: str, ids: list[str], status: str) -> int:
        """An item that does not exist fails its condition and cancels the transaction, which
        then runs again without it."""
        while ids:
            updates = [
                {
                    "Update": {
                        "TableName": self._tables[kind],
                        "Key": self._key(kind, saga_id, item_id),
                        "UpdateExpression": "SET #s = :s",
                        "ConditionExpression": "attribute_exists(saga_id)",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": {"S": status}},
                    }
                }
                for item_id in ids
            ]
            try:
                self._transact_through_conflicts(updates)
                return len(ids)
            except ClientError as error:
                reasons = _cancellation_reasons(error)
                if len(reasons) != len(ids) or "ConditionalCheckFailed" not in reasons:
                    raise
                ids = [i for i, code in zip(ids, reasons, strict=True) if code != "ConditionalCheckFailed"]
        return 0

    @staticmethod
    def _key(kind: Kind, saga_id: str, item_id: str) -> dict[str, Any]:
        return {"saga_id": {"S": saga_id}, KEYS[kind]: {"S": item_id}}


def _cancellation_reasons(error: ClientError) -> list[str | None]:
    """The code of each item of a cancelled transaction, in order ("None" where it was fine)."""
    return [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]


class ArtifactStore(Protocol):
    def put(self, key: str, body: bytes) -> None: ...
    def delete(self, keys: Iterable[str]) -> int: ...
    def keys(self, prefix: str) -> list[str]: ...


class S3ArtifactStore:
    def __init__(self, settings: Settings) -> None:
        self._bucket = settings.artifacts_bucket
        self._s3 = aws.client("s3")

    def put(self, key: str, body: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")

    def delete(self, keys: Iterable[str]) -> int:
        batch = [{"Key": k} for k in keys]
        for start in range(0, len(batch), 1000):
            response = self._s3.delete_objects(
                Bucket=self._bucket, Delete={"Objects": batch[start : start + 1000]}
            )
            if response.get("Errors"):  # a compensation that did not delete must not be marked done
                first = response["Errors"][0]
                raise RuntimeError(f"could not delete {len(response['Errors'])} artifact(s), e.g. {first}")
        return len(batch)

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            found.extend(o["Key"] for o in page.get("Contents", []))
        return found
