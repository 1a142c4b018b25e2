"""One Idempotency-Key, one saga, whatever races for it (issue 12, section 2).

Two threads stand in for two API instances: each has its own boto3 clients and they share no
lock, only the backend (the embedded stack's DynamoDB and Step Functions). They run the start
path below Powertools' resolver (``functions.api.claims.start_once``): the resolver keeps the
current event process-wide, so one process resolves one request at a time, as a Lambda
instance does (see ``stepsaga/cli/api_server.py``). Two stand-in machines (a Pass state each)
keep 150 rounds cheap; the claim does not depend on what a machine runs.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.api.claims import ClaimPending, Claims, IdempotencyConflict, start_once
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.account import ACCOUNT, REGION

pytestmark = pytest.mark.functional

ROUNDS = 50
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture(scope="module")
def machines(stack: EmbeddedStack) -> Iterator[dict[str, str]]:
    sfn = stack.client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT}:role/race"
    suffix = uuid.uuid4().hex[:8]
    arns = {
        name: sfn.create_state_machine(name=f"race-{name}-{suffix}", definition=PASS, roleArn=role)[
            "stateMachineArn"
        ]
        for name in ("first", "second")
    }
    yield arns
    for arn in arns.values():
        sfn.delete_state_machine(stateMachineArn=arn)


def _document(project: str) -> dict[str, Any]:
    return {"request": {"project": project, "target_url": "http://127.0.0.1/", "user_stories": ["s"]}}


def _race(
    stack: EmbeddedStack, machines: dict[str, str], key: str, asks: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, Any]]:
    """Both asks at once, each from its own "instance": (outcome, detail) per ask."""
    # Clients are made here, one after the other: boto3's default session is not thread-safe.
    instances = [
        (boto3.client("dynamodb", region_name=REGION), boto3.client("stepfunctions", region_name=REGION))
        for _ in asks
    ]
    barrier = threading.Barrier(len(asks))
    outcomes: list[tuple[str, Any]] = [("none", None)] * len(asks)

    def ask(index: int) -> None:
        machine, document = asks[index]
        ddb, sfn = instances[index]
        barrier.wait()
        try:
            created, described = start_once(
                Claims(stack.table("sagas"), ddb), sfn, key, machine, machines[machine], document
            )
            outcomes[index] = ("201" if created else "200", described["executionArn"])
        except (IdempotencyConflict, ClaimPending) as error:
            outcomes[index] = ("409", str(error))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def _executions_named(stack: EmbeddedStack, machines: dict[str, str], key: str) -> list[str]:
    sfn = stack.client("stepfunctions")
    return [
        e["executionArn"]
        for arn in machines.values()
        for e in sfn.list_executions(stateMachineArn=arn)["executions"]
        if e["name"] == key
    ]


CASES = {
    "same key, same body, same machine": (("first", "a"), ("first", "a")),
    "same key, another machine": (("first", "a"), ("second", "a")),
    "same key, another body": (("first", "a"), ("first", "b")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_racing_starts_of_one_key_start_one_saga(
    stack: EmbeddedStack, machines: dict[str, str], case: str
) -> None:
    asks = [(machine, _document(project)) for machine, project in CASES[case]]
    for _ in range(ROUNDS):
        key = f"race-{uuid.uuid4().hex[:16]}"
        outcomes = _race(stack, machines, key, asks)
        started = _executions_named(stack, machines, key)
        assert len(started) == 1, (case, outcomes, started)  # 0 duplicates, none missing
        codes = sorted(code for code, _ in outcomes)
        if case.startswith("same key, same body"):
            assert codes == ["200", "201"], outcomes
            assert {detail for _, detail in outcomes} == set(started), outcomes  # both name it
        else:
            assert codes == ["201", "409"], outcomes
            [winner] = [detail for code, detail in outcomes if code == "201"]
            assert [winner] == started
            [refusal] = [detail for code, detail in outcomes if code == "409"]
            assert refusal.startswith(f"Idempotency-Key: {key!r} "), refusal
