"""Issue 16: the history's JSON written directly (``stepfunctions_api.history_json``, a ``SPEED``
patch) is the JSON moto's serialiser writes, on real saga histories: the same bytes on the wire
and the same answer through boto3, whole and paged, forwards and in reverse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import stepfunctions_api
from stepsaga.embedded.patches.speed import SPEED

pytestmark = pytest.mark.statemachine

PARALLEL = "parallel-test-generation"


@pytest.fixture
def sfn(stack: EmbeddedStack) -> Iterator[tuple[Any, list[bytes]]]:
    """A client of its own that keeps every GetExecutionHistory body, as sent."""
    if stack.endpoint is None:
        client = boto3.client("stepfunctions", region_name="us-east-1")
    else:
        client = boto3.client(
            "stepfunctions",
            region_name="us-east-1",
            endpoint_url=stack.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    bodies: list[bytes] = []
    client.meta.events.register(
        "after-call.sfn.GetExecutionHistory",
        lambda http_response, **_: bodies.append(http_response.content),
    )
    yield client, bodies
    SPEED.enabled = SPEED.default


@pytest.fixture
def direct_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each history was written directly (True) or left to moto's serialiser."""
    answered: list[bool] = []
    write = stepfunctions_api.history_json

    def counted(result: Any, context: Any) -> Any:
        answer = write(result, context)
        answered.append(answer is not None)
        return answer

    monkeypatch.setattr(stepfunctions_api, "history_json", counted)
    return answered


def pages(client: Any, arn: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of the history, as boto3 parses them (``ResponseMetadata`` aside)."""
    found, token = [], None
    while True:
        answer = client.get_execution_history(
            executionArn=arn, **params, **({"nextToken": token} if token else {})
        )
        found.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})
        token = answer.get("nextToken")
        if not token:
            return found


READS: list[dict[str, Any]] = [
    {},
    {"reverseOrder": True},
    {"maxResults": 7},
    {"maxResults": 7, "reverseOrder": True},
    {"maxResults": 1, "reverseOrder": True},  # as EmbeddedStack.wait reads the last event
]


def both_ways(sfn: tuple[Any, list[bytes]], arn: str) -> dict[bool, tuple[list[Any], list[bytes]]]:
    """Every read of ``READS``, with the direct path on and off: parsed pages and raw bodies."""
    client, bodies = sfn
    answers = {}
    for enabled in (True, False):
        SPEED.enabled = enabled
        bodies.clear()
        parsed = [pages(client, arn, **params) for params in READS]
        answers[enabled] = (parsed, list(bodies))
    SPEED.enabled = SPEED.default
    return answers


def details_of(history: list[dict[str, Any]]) -> set[str]:
    return {name for event in history for name in event if name.endswith("EventDetails")}


def assert_same(sfn: tuple[Any, list[bytes]], arn: str, direct_answers: list[bool]) -> list[dict[str, Any]]:
    direct_answers.clear()  # (waiting for the saga may have read its history)
    answers = both_ways(sfn, arn)
    (direct, direct_bodies), (stock, stock_bodies) = answers[True], answers[False]
    assert direct_bodies == stock_bodies  # byte for byte, page by page
    assert direct == stock  # and as boto3 parses them: datetimes, ids, every detail
    calls = len(direct_bodies)
    assert direct_answers == [True] * calls  # the direct path wrote every page (asked only when on)
    whole = direct[0][0]["events"]
    assert [e["id"] for e in whole] == list(range(1, len(whole) + 1))
    paged = [e for page in direct[2] for e in page["events"]]
    assert paged == whole and [e for page in direct[3] for e in page["events"]] == whole[::-1]
    assert len(direct[2]) > 1 and "nextToken" in direct[2][0]  # really paged
    return whole


def test_a_happy_saga_history_is_the_same_json(stack, sfn, direct_answers, request_doc, saga_name):
    described = stack.run(request_doc, name=saga_name)
    assert described["status"] == "SUCCEEDED"

    history = assert_same(sfn, described["executionArn"], direct_answers)
    assert {"executionStartedEventDetails", "lambdaFunctionSucceededEventDetails"} <= details_of(history)


def test_a_rolled_back_saga_history_is_the_same_json(stack, sfn, direct_answers, request_doc, saga_name):
    described = stack.run(request_doc, {"Analysis": {"mode": "permanent"}}, name=saga_name)
    assert described["status"] == "FAILED"

    history = assert_same(sfn, described["executionArn"], direct_answers)
    assert {"lambdaFunctionFailedEventDetails", "executionFailedEventDetails"} <= details_of(history)


def test_a_parallel_saga_with_retries_history_is_the_same_json(stack, sfn, direct_answers, site, saga_name):
    request = {
        "project": "wide",
        "target_url": site.url,
        "user_stories": [f"Story {i} about /" for i in range(5)],
    }
    faults = {"ExecuteTest": {"mode": "transient", "times": 1}}
    described = stack.run(request, faults, name=saga_name, machine=PARALLEL)
    assert described["status"] == "SUCCEEDED"

    history = assert_same(sfn, described["executionArn"], direct_answers)
    types = {e["type"] for e in history}
    assert {
        "MapStateStarted",
        "MapIterationStarted",
        "MapIterationSucceeded",
        "LambdaFunctionFailed",
    } <= types
    assert {"mapStateStartedEventDetails", "mapIterationStartedEventDetails"} <= details_of(history)


# --- the interpreter's JSON copies (``stepfunctions.install_json_copies``, a SPEED patch) ---------
def comparable(history: list[dict[str, Any]], name: str) -> list[str]:
    """Each event as JSON with what differs between two runs of one saga replaced: the execution's
    name, times, uuids and random hex (task tokens, test ids)."""
    events = []
    for event in history:
        text = json.dumps({k: v for k, v in event.items() if k != "timestamp"}, default=str)
        text = re.sub(
            r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text.replace(name, "<name>")
        )
        events.append(re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{8,}", "<hex>", text))
    return events


def run_both_ways(
    stack: EmbeddedStack, client: Any, saga_name: str, *args: Any, **kwargs: Any
) -> list[list[str]]:
    """The saga run with SPEED on, then off: each run's history, comparable."""
    from moto.stepfunctions.parser.asl.eval import states

    from stepsaga.embedded.patches import stepfunctions

    histories = []
    for enabled in (True, False):
        SPEED.enabled = enabled
        assert states.copy is stepfunctions._JsonCopying  # the patch is installed: SPEED switches it
        name = f"{saga_name}-{enabled}"
        try:
            described = stack.run(*args, name=name, **kwargs)
        finally:
            SPEED.enabled = SPEED.default
        events = client.get_execution_history(executionArn=described["executionArn"])["events"]
        histories.append(comparable(events, name))
    return histories


@pytest.mark.parametrize("faults", [None, {"Analysis": {"mode": "permanent"}}], ids=["happy", "rolled-back"])
def test_a_saga_history_is_the_same_with_the_json_copies(stack, sfn, request_doc, saga_name, faults):
    fast, stock = run_both_ways(stack, sfn[0], saga_name, request_doc, faults)
    assert len(fast) > 20 and fast == stock  # event by event, in order


def test_a_parallel_map_saga_history_is_the_same_with_the_json_copies(stack, sfn, site, saga_name):
    request = {
        "project": "wide",
        "target_url": site.url,
        "user_stories": [f"Story {i} about /" for i in range(5)],
    }
    fast, stock = run_both_ways(stack, sfn[0], saga_name, request, machine=PARALLEL)
    assert sum('"MapIterationSucceeded"' in event for event in fast) == 5
    # The same events; the iterations run concurrently, so their order (and ids) may differ.
    assert sorted(re.sub(r'"(id|previousEventId)": \d+', "", e) for e in fast) == sorted(
        re.sub(r'"(id|previousEventId)": \d+', "", e) for e in stock
    )
