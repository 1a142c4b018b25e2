"""Issue 12, section 1: a saga of the largest size the API accepts completes or rolls back.

Before, a sequential saga of 4,000 tests grew Execution's ledger entry past DynamoDB's 400 KB
(neither the step nor its compensation could write it: CompensationFailed, forever), and a
parallel saga near 3,560 tests ran out of Step Functions' 25,000 history events, uncaught.
Now no ledger item grows with the work, and requests are capped at ``MAX_TESTS``, the bound
measured for the parallel machine (functions/common/models.py, docs/RELIABILITY.md).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from functions.common.models import MAX_TESTS, SagaRequest
from stepsaga.cli.demo_site import DemoSite
from stepsaga.embedded import EmbeddedStack
from tests.statemachine.saga_assertions import assert_nothing_orphaned, ledger_of
from tests.statemachine.sized_requests import largest_request

pytestmark = [pytest.mark.statemachine, pytest.mark.slow]

# Step Functions ends an execution at 25,000 history events (the parallel machine's limit).
HISTORY_LIMIT = 25_000
# Step Functions' limit on a state's input or output, in bytes.
PAYLOAD_LIMIT = 262_144


def largest_payload(history: list[dict[str, Any]]) -> int:
    """The largest input or output of any state or task in a history, in bytes."""
    sizes = [
        len(str(details[field]).encode())
        for event in history
        for name, details in event.items()
        if name.endswith("EventDetails") and isinstance(details, dict)
        for field in ("input", "output")
        if field in details
    ]
    return max(sizes)


def test_the_request_model_accepts_the_bound_and_refuses_one_test_more() -> None:
    with DemoSite() as site:
        SagaRequest.model_validate(largest_request(site.url))
        with pytest.raises(ValueError, match=f"yield {MAX_TESTS + 1} tests.*at most {MAX_TESTS}"):
            SagaRequest.model_validate(largest_request(site.url, extra=1))


MACHINES = ["test-generation", "parallel-test-generation"]


def _saga_id() -> str:
    """64 characters, as the API allows: artifact keys and ledger ids are at their longest."""
    return f"big-{uuid.uuid4().hex}{uuid.uuid4().hex}"[:64]


@pytest.mark.parametrize("machine", MACHINES)
def test_the_largest_accepted_saga_succeeds(stack: EmbeddedStack, site: DemoSite, machine: str) -> None:
    arn = stack.start(largest_request(site.url), machine=machine, name=_saga_id())
    described = stack.wait(arn, timeout=900)

    assert described["status"] == "SUCCEEDED", described
    saga_id = arn.rsplit(":", 1)[1]
    runs = stack.items("runs", saga_id)
    assert len(runs) == MAX_TESTS and {r["outcome"] for r in runs} == {"PASSED"}
    assert len(ledger_of(stack, saga_id)["Execution"]["created_runs"]) == MAX_TESTS
    history = stack.history(arn)
    assert len(history) < HISTORY_LIMIT and largest_payload(history) < PAYLOAD_LIMIT


@pytest.mark.parametrize("machine", MACHINES)
def test_the_largest_accepted_saga_rolls_back_from_its_last_step(
    stack: EmbeddedStack, site: DemoSite, machine: str
) -> None:
    name = _saga_id()
    arn = stack.start(
        largest_request(site.url), {"Evolution": {"mode": "permanent"}}, machine=machine, name=name
    )
    described = stack.wait(arn, timeout=900)

    assert (described["status"], described.get("error")) == ("FAILED", "SagaRolledBack"), described
    assert len(stack.items("tests", name)) == MAX_TESTS  # all were made, and all are undone:
    assert_nothing_orphaned(stack, name)
    assert len(ledger_of(stack, name)["Execution"]["created_artifacts"]) == MAX_TESTS
    history = stack.history(arn)
    assert len(history) < HISTORY_LIMIT and largest_payload(history) < PAYLOAD_LIMIT
