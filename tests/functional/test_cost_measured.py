"""bench/cost_measured.py on the embedded stack: the calls recorded for a path agree with what the
path left behind and with the ASL simulator (counts, never prices or timings)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.cost_measured import recording
from statemachines.catalogue import TEST_GENERATION
from statemachines.tools.cost import Assumptions, bill, price_saga
from stepsaga.embedded import EmbeddedStack

pytestmark = pytest.mark.functional


def test_the_happy_paths_calls_match_what_it_wrote(stack: EmbeddedStack, request_doc: dict[str, Any]) -> None:
    with recording(stack, request_doc) as run:
        measured = run("happy")
    saga_id = stack.client("stepfunctions").list_executions(stateMachineArn=stack.machine_arn())["executions"]
    saga_id = max(saga_id, key=lambda e: e["startDate"])["name"]
    ledger = stack.table("ledger")
    chunks = [
        item
        for item in stack.client("dynamodb").query(
            TableName=ledger,
            IndexName="by_saga",
            KeyConditionExpression="saga_id = :s",
            ExpressionAttributeValues={":s": {"S": saga_id}},
        )["Items"]
        if "#" in item["step"]["S"]
    ]
    simulated = price_saga(TEST_GENERATION).path("happy")

    # Each ledger chunk is written in the transaction that writes its step's data.
    ledger_transactions = [
        c for c in measured.calls if c.operation == "TransactWriteItems" and ledger in c.tables
    ]
    assert chunks and len(ledger_transactions) == len(chunks)
    # One artifact (an S3 PUT) per run.
    assert measured.count("s3", "PutObject") == len(stack.items("runs", saga_id)) > 0
    assert measured.count("s3", "PutObject") == len(stack.artifact_keys(saga_id))
    # Step Functions invoked each step once and entered the states the simulator walks.
    assert measured.count("lambda", "Invoke") == simulated.lambda_invocations
    assert measured.transitions == simulated.transitions
    # The saga's start and end events run a function too.
    assert measured.lambda_invocations > simulated.lambda_invocations
    assert measured.lambda_log_bytes > 0 and measured.machine_log_bytes > 0 and measured.metrics > 0
    units = bill(measured, Assumptions()).units
    # A transaction bills two units per item, every other write at least one.
    assert units["DynamoDB write units"] >= 2 * sum(len(c.written) for c in ledger_transactions)
