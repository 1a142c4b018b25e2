"""Every CompensationFailed saga: exactly one dead letter and an alarm, whichever way
ReportCompensationFailure fails (issue 12, item 4), on the embedded stack.

The reporter's SQS client is wrapped, in its own invocations only: "after" lets the send
through and then loses the answer (a timeout after SQS accepted it), "before" fails the send.
SagaEvents, which handles the execution's end, keeps the real client.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from functions.audit import saga_events
from functions.common import aws
from functions.common.names import ENV_SERVICE_NAME, TEST_GENERATION
from infra import names
from infra.observability import SERVICE as SAGA_EVENTS
from statemachines.saga import REPORT_COMPENSATION_FAILURE
from stepsaga.cli.resume import dead_letters
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.synth import cloud_assembly
from tests.statemachine.saga_assertions import scheduled
from tests.statemachine.test_fault_matrix import (
    _own_dead_letters,  # noqa: F401  (autouse: takes this module's dead letters off the queue)
)

pytestmark = pytest.mark.statemachine

STUCK = {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}}
REPORTER_ATTEMPTS = 6  # 1 + the 5 retries of report_failure_state


class _ReporterSqs:
    """The reporter's SQS client, failing its first ``failures`` sends of ``saga_id``."""

    def __init__(self, real: Any, saga_id: str, when: str, failures: int) -> None:
        self._real, self._saga_id, self._when, self.failures = real, saga_id, when, failures
        self.sends = 0

    def send_message(self, **kwargs: Any) -> Any:
        if json.loads(kwargs["MessageBody"]).get("saga_id") != self._saga_id:
            return self._real.send_message(**kwargs)
        self.sends += 1
        failing = self.sends <= self.failures
        if failing and self._when == "before":
            raise EndpointConnectionError(endpoint_url="https://sqs.embedded")
        answer = self._real.send_message(**kwargs)
        if failing:
            raise ReadTimeoutError(endpoint_url="https://sqs.embedded")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def reporter_sqs(monkeypatch: pytest.MonkeyPatch, saga_name: str) -> Iterator[Any]:
    """``install(when, failures)``: the wrapped client the reporter will get."""
    real_client = aws.client
    installed: dict[str, _ReporterSqs] = {}

    def client(service: str) -> Any:
        found = real_client(service)
        wrapper = installed.get("sqs")
        if service == "sqs" and wrapper and os.environ.get(ENV_SERVICE_NAME) == REPORT_COMPENSATION_FAILURE:
            return wrapper
        return found

    def install(when: str, failures: int) -> _ReporterSqs:
        installed["sqs"] = _ReporterSqs(real_client("sqs"), saga_name, when, failures)
        return installed["sqs"]

    monkeypatch.setattr(aws, "client", client)
    yield install


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """The metrics SagaEvents emits (Powertools' metrics are off on the embedded stack)."""
    found: list[tuple[str, dict[str, str]]] = []
    lock = threading.Lock()

    def metric(name: str, value: float = 1, unit: Any = None, **dimensions: str) -> None:
        with lock:
            found.append((name, {**dimensions, "service": SAGA_EVENTS}))

    monkeypatch.setattr(saga_events, "metric", metric)
    return found


def letters_of(stack: EmbeddedStack, saga_id: str, settle: float = 1.0) -> list[dict[str, Any]]:
    """The saga's dead letters once SagaEvents has handled its end (and nothing more arrives)."""
    deadline = time.monotonic() + 10
    found = dead_letters(stack, saga_id)
    while not found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = dead_letters(stack, saga_id)
    time.sleep(settle)  # a duplicate would land now
    return dead_letters(stack, saga_id)


def alarmed(stack: EmbeddedStack) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric, dimensions) of every single-metric alarm of the deployed template that fires
    on one occurrence."""
    template = json.loads((cloud_assembly(stack.context) / f"{names.STACK_NAME}.template.json").read_text())
    return {
        (props["MetricName"], tuple(sorted((d["Name"], json.dumps(d["Value"])) for d in props["Dimensions"])))
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        for props in [resource["Properties"]]
        if "MetricName" in props
        and props["Threshold"] <= 1
        and props.get("AlarmActions")
        and props.get("Dimensions")
    }


@pytest.mark.parametrize("failures", [1, REPORTER_ATTEMPTS], ids=["first-attempt", "every-attempt"])
def test_a_reporter_that_sent_and_then_failed_leaves_exactly_one_dead_letter(
    stack, request_doc, saga_name, reporter_sqs, failures
):
    sqs = reporter_sqs("after", failures)
    described = stack.run(request_doc, faults=STUCK, name=saga_name)

    assert described["error"] == "CompensationFailed"
    arn = described["executionArn"]
    assert scheduled(stack, arn, REPORT_COMPENSATION_FAILURE) == min(failures + 1, REPORTER_ATTEMPTS)
    assert sqs.sends == min(failures + 1, REPORTER_ATTEMPTS)  # each attempt did reach SQS
    [letter] = letters_of(stack, saga_name)
    assert letter["execution_arn"] == arn
    assert sorted(letter["left_to_undo"]) == ["Generation", "Requirements"]


def test_a_reporter_that_never_sends_still_leaves_one_dead_letter_and_raises_an_alarm(
    stack, request_doc, saga_name, reporter_sqs, emitted
):
    sqs = reporter_sqs("before", REPORTER_ATTEMPTS)
    described = stack.run(request_doc, faults=STUCK, name=saga_name)

    assert described["error"] == "CompensationFailed"
    arn = described["executionArn"]
    assert scheduled(stack, arn, REPORT_COMPENSATION_FAILURE) == REPORTER_ATTEMPTS
    assert sqs.sends == REPORTER_ATTEMPTS
    # SagaEvents, from the execution's end, sent what the reporter could not.
    [letter] = letters_of(stack, saga_name)
    assert letter["execution_arn"] == arn and letter["saga_id"] == saga_name
    assert letter["error"] == "CompensationFailed"
    assert sorted(letter["left_to_undo"]) == ["Generation", "Requirements"]
    # An alarm of the deployed stack watches a metric this saga's end emitted.
    fired = {(name, tuple(sorted(dims.items()))) for name, dims in emitted}
    stuck = ("SagasCompensationFailed", (("saga_type", TEST_GENERATION), ("service", SAGA_EVENTS)))
    assert stuck in fired
    as_in_template = (stuck[0], tuple((k, json.dumps(v)) for k, v in stuck[1]))
    assert as_in_template in alarmed(stack)


def test_a_saga_reported_by_the_reporter_gets_no_second_letter_from_saga_events(
    stack, request_doc, saga_name
):
    described = stack.run(request_doc, faults=STUCK, name=saga_name)

    assert described["error"] == "CompensationFailed"
    [letter] = letters_of(stack, saga_name)
    assert letter["error"] == "AgentPermanentError"  # the reporter's letter, with the compensation's error
