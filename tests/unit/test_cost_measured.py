"""The pricing of a measured call record (statemachines.tools.cost.bill), and the pure parts of
its measurement (bench.cost_measured): item sizes and transitions from a history."""

from __future__ import annotations

import pytest

from bench.cost_measured import item_size, transitions, value_size
from statemachines.tools import cost, prices
from statemachines.tools.cost import Call, Measured, bill, read_units, render_bills, write_units

MB = 1024**2


def record(**changes: object) -> Measured:
    calls = (
        Call("dynamodb", "PutItem", written=(1500,)),  # 2 units: 1 KB each, rounded up
        Call("dynamodb", "TransactWriteItems", written=(100, 2048)),  # (1 + 2) x 2
        Call("dynamodb", "GetItem", read=(5000,), consistent=True),  # 2
        Call("dynamodb", "Query", read=(0,)),  # at least one unit, halved: eventually consistent
        Call("dynamodb", "TransactGetItems", read=(4096,)),  # 1 x 2
        Call("s3", "PutObject"),
        Call("s3", "PutObject"),
        Call("s3", "ListObjectsV2"),
        Call("s3", "GetObject"),
        Call("s3", "DeleteObject"),
        Call("sqs", "SendMessage", payload=70_000),  # two 64 KB chunks
        Call("lambda", "Invoke"),
        Call("stepfunctions", "SendTaskSuccess"),
    )
    found = {
        "path": "happy",
        "calls": calls,
        "transitions": 7,
        "lambda_invocations": 8,
        "lambda_log_bytes": MB,
        "machine_log_bytes": 0,
        "metrics": 10,
    }
    found.update(changes)
    return Measured(**found)  # type: ignore[arg-type]


def test_units_follow_dynamodbs_rounding_and_transactions() -> None:
    assert write_units(Call("dynamodb", "PutItem", written=(1024,))) == 1
    assert write_units(Call("dynamodb", "PutItem", written=(1025,))) == 2
    assert write_units(Call("dynamodb", "TransactWriteItems", written=(1, 1))) == 4
    assert read_units(Call("dynamodb", "GetItem", read=(4097,), consistent=True)) == 2
    assert read_units(Call("dynamodb", "GetItem", read=(4097,))) == 1
    assert read_units(Call("dynamodb", "TransactGetItems", read=(10,))) == 2


def test_a_record_is_billed_line_by_line() -> None:
    b = bill(record(), cost.Assumptions(duration_ms=100, memory_mb=256))

    assert b.units["DynamoDB write units"] == 2 + 6
    assert b.units["DynamoDB read units"] == 2 + 0.5 + 2
    assert (b.units["S3 PUT/LIST requests"], b.units["S3 GET requests"]) == (3, 1)
    assert b.units["SQS requests"] == 2
    assert b.units["Lambda requests"] == 8
    assert b.unpriced == {"s3.DeleteObject": 1, "stepfunctions.SendTaskSuccess": 1}  # free
    assert b.lines["Step Functions transitions"] == pytest.approx(7 * 25.0)
    assert b.lines["DynamoDB write units"] == pytest.approx(8 * 0.625)
    assert b.lines["DynamoDB read units"] == pytest.approx(4.5 * 0.125)
    assert b.lines["S3 PUT/LIST requests"] == pytest.approx(3 * 5.0)
    assert b.lines["S3 GET requests"] == pytest.approx(0.4)
    assert b.lines["SQS requests"] == pytest.approx(0.8)
    assert b.lines["Lambda requests"] == pytest.approx(1.6)
    assert b.lines["Lambda GB-seconds"] == pytest.approx(8 * 0.1 * 0.25 * 16.6667)
    assert b.lines["Lambda logs GB"] == pytest.approx(0.5 / 1024 * 1_000_000)
    assert b.lines["X-Ray traces"] == pytest.approx(5.0)
    assert b.total == pytest.approx(sum(b.lines.values()))
    assert [item for item, _usd in b.largest(3)] == [
        "Lambda logs GB",
        "Step Functions transitions",
        "S3 PUT/LIST requests",
    ]


def test_the_table_names_the_largest_line_items() -> None:
    text = render_bills([record(lambda_log_bytes=0)])

    assert "| happy | " in text
    assert "Step Functions transitions 175.00" in text


def test_one_price_table_with_dates_and_sources() -> None:
    assert prices.STANDARD_TRANSITION.each == cost.STANDARD_PER_TRANSITION
    assert prices.LAMBDA_REQUEST.each == cost.LAMBDA_PER_REQUEST
    for name, price in prices.PRICES.items():
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.dated[:2] == "20" and price.unit, name


def test_item_sizes_as_dynamodb_counts_them() -> None:
    assert value_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert value_size({"N": "12345"}) == 4  # (significant digits / 2) + 1
    assert value_size({"BOOL": True}) == 1
    assert value_size({"L": [{"S": "ab"}]}) == 3 + 1 + 2
    assert value_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2
    assert item_size({"id": {"S": "abc"}, "n": {"N": "7"}}) == 2 + 3 + 1 + 2


def test_transitions_count_states_entered_and_retry_attempts() -> None:
    history = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "TaskFailed"},
        {"type": "TaskScheduled"},  # a retry: one more transition
        {"type": "TaskSucceeded"},
        {"type": "TaskStateExited"},
        {"type": "SucceedStateEntered"},
        {"type": "ExecutionSucceeded"},
    ]

    assert transitions(history) == 3
