"""One Idempotency-Key, one saga: the key is claimed by one conditional write before any
execution starts, whatever the machine.

A claim is an item of the Sagas table keyed ``claim#<key>`` (a saga id never holds ``#``)
naming the machine and a digest of the saga's input. The request whose write creates it is the
one that starts the saga and answers 201; every other request with the key reads the claim:
the same machine and input get that saga back (200), anything else is a conflict. Checking
each machine for an execution and then starting one (check-then-act) let two API instances
both start a saga under one key, one on each machine.

Only the claimer starts the execution, so no two requests race Step Functions' own name check
(on AWS, a second StartExecution with the same name and input even succeeds). A request that
finds a matching claim but no execution yet waits for the claimer's; a claim older than any
API call can last (its claimer is gone) is started by the next request with the key. A claim
is never deleted: it keeps the key bound to its machine and input.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from functions.common.arns import execution_arn

CLAIM_PREFIX = "claim#"
# Longer than API Gateway's 29 s integration timeout: a claim this old has no live claimer.
STALE_AFTER_SECONDS = 30.0
# How long a request waits for the claimer's execution to appear before asking for a retry.
WAIT_FOR_CLAIMER_SECONDS = 10.0


class IdempotencyConflict(Exception):
    """The key already names a saga on another machine, or one with another input."""


class ClaimPending(Exception):
    """The key's claimer has not started its saga yet: the client should retry."""


@dataclass(frozen=True)
class Claim:
    machine: str
    digest: str
    claimed_at: float = field(default=0.0, compare=False)  # epoch seconds

    def same_saga(self, other: Claim) -> bool:
        return (self.machine, self.digest) == (other.machine, other.digest)


def digest(document: Any) -> str:
    """The input's fingerprint: equal JSON documents (whatever their key order) match."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Claims:
    def __init__(self, table: str, ddb: Any) -> None:
        self._table = table
        self._ddb = ddb

    def claim(self, key: str, wanted: Claim) -> Claim | None:
        """Claim ``key`` for ``wanted``: None if this call claimed it, else the claim holding it."""
        item_key = {"saga_id": {"S": CLAIM_PREFIX + key}}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    **item_key,
                    "machine": {"S": wanted.machine},
                    "digest": {"S": wanted.digest},
                    "claimed_at": {"N": str(int(wanted.claimed_at * 1000))},
                },
                ConditionExpression="attribute_not_exists(saga_id)",
            )
            return None
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        held = self._ddb.get_item(TableName=self._table, Key=item_key, ConsistentRead=True)["Item"]
        return Claim(held["machine"]["S"], held["digest"]["S"], int(held["claimed_at"]["N"]) / 1000)


def _describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise


def _start(sfn: Any, machine_arn: str, key: str, document: dict[str, Any]) -> dict[str, Any]:
    """Start the saga, or describe it when a request with the same claim already did."""
    try:
        started = sfn.start_execution(stateMachineArn=machine_arn, name=key, input=json.dumps(document))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        described = _describe(sfn, execution_arn(machine_arn, key))
        if described is None:  # pragma: no cover - exists, yet cannot be described
            raise
        return described
    return {
        "name": key,
        "executionArn": started["executionArn"],
        "status": "RUNNING",
        "startDate": started["startDate"],
        "input": json.dumps(document),
    }


def _claimers(sfn: Any, arn: str, held: Claim) -> dict[str, Any] | None:
    """The claimer's execution once it appears; None when the claimer is gone without starting."""
    deadline = time.monotonic() + WAIT_FOR_CLAIMER_SECONDS
    delay = 0.02
    while True:
        described = _describe(sfn, arn)
        if described is not None or time.time() - held.claimed_at > STALE_AFTER_SECONDS:
            return described
        if time.monotonic() > deadline:
            raise ClaimPending("Idempotency-Key: a request with this key is still starting its saga; retry")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def start_once(
    claims: Claims, sfn: Any, key: str, machine: str, machine_arn: str, document: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """Start the saga ``key`` names on ``machine``: (whether this request started it, its description).

    Exactly one request per key answers created: the one whose claim was written.
    """
    wanted = Claim(machine, digest(document), time.time())
    held = claims.claim(key, wanted)
    if held is not None and held.machine != machine:
        raise IdempotencyConflict(
            f"Idempotency-Key: {key!r} already names a saga on machine {held.machine!r}"
        )
    if held is not None and not held.same_saga(wanted):
        raise IdempotencyConflict(f"Idempotency-Key: {key!r} was already used for a different request")
    described = None if held is None else _claimers(sfn, execution_arn(machine_arn, key), held)
    if described is None:  # ours to start, or a claimer that is gone left it to us
        described = _start(sfn, machine_arn, key, document)
    # An execution started under this name before keys were claimed may hold another input.
    if json.loads(described.get("input") or "null") != document:
        raise IdempotencyConflict(f"Idempotency-Key: {key!r} was already used for a different request")
    return held is None, described
