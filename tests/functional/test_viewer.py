"""stepsaga/cli/viewer.py: the local execution viewer, against sagas run on the embedded stack,
then rendered by headless Chromium (skipped when /usr/bin/chromium is not installed)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image, ImageColor

from functions.api.history import rows
from statemachines.catalogue import TEST_GENERATION
from statemachines.saga import compile_saga
from stepsaga.cli.demo_site import STORIES, DemoSite
from stepsaga.cli.history import CAUSE_LIMIT
from stepsaga.cli.viewer import (
    COMPENSATED,
    FAILED,
    NOT_RUN,
    OUTCOME_PALETTE,
    RETRIED,
    RUNNING,
    SUCCEEDED,
    outcomes,
    serve,
    transitions_taken,
)
from stepsaga.embedded import EmbeddedStack

pytestmark = pytest.mark.functional

CHROMIUM = Path("/usr/bin/chromium")
FORWARD = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]
UNDO = ["CompensateExecution", "CompensateGeneration", "CompensateRequirements"]


class Viewed:
    def __init__(self, url: str, happy: dict[str, Any], failed: dict[str, Any]) -> None:
        self.url, self.happy, self.failed = url, happy, failed


@pytest.fixture(scope="module")
def viewed(stack: EmbeddedStack, site: DemoSite) -> Iterator[Viewed]:
    """A happy saga and one failing for good at Execution, and the viewer serving them."""
    request = {"project": "acme-web", "target_url": site.url, "user_stories": list(STORIES)}
    tag = uuid.uuid4().hex[:10]
    happy = stack.run(request, name=f"v-happy-{tag}")
    failed = stack.run(request, faults={"Execution": {"mode": "permanent"}}, name=f"v-failed-{tag}")
    server, url = serve(stack.client, stack.state_machine_arn, 0)
    try:
        yield Viewed(url, happy, failed)
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, body
    return json.loads(body)


# -- the JSON API -----------------------------------------------------------------------------------


def test_executions_are_listed_newest_first(viewed: Viewed):
    listed = get_json(f"{viewed.url}/api/executions")["executions"]
    names = [e["name"] for e in listed]
    assert names.index(viewed.failed["name"]) < names.index(viewed.happy["name"])
    starts = [e["startDate"] for e in listed]
    assert starts == sorted(starts, reverse=True)
    by_name = {e["name"]: e for e in listed}
    assert by_name[viewed.happy["name"]]["status"] == "SUCCEEDED"
    assert by_name[viewed.failed["name"]]["status"] == "FAILED"
    assert by_name[viewed.failed["name"]]["url"] == f"/executions/{viewed.failed['name']}"


def test_happy_saga_outcomes(viewed: Viewed):
    found = get_json(f"{viewed.url}/api/executions/{viewed.happy['name']}")
    assert found["status"] == "SUCCEEDED"
    states = found["outcomes"]
    assert {states[s] for s in [*FORWARD, "SagaSucceeded"]} == {SUCCEEDED}
    rest = set(states) - {*FORWARD, "SagaSucceeded"}
    assert {states[s] for s in rest} == {NOT_RUN}
    assert found["transitions"] == [
        list(t) for t in zip(FORWARD, [*FORWARD[1:], "SagaSucceeded"], strict=True)
    ]


def test_failed_saga_outcomes(viewed: Viewed):
    found = get_json(f"{viewed.url}/api/executions/{viewed.failed['name']}")
    assert (found["status"], found["error"]) == ("FAILED", "SagaRolledBack")
    states = found["outcomes"]
    # Done, then undone: the forward steps and the compensations that undid them.
    for name in ["Requirements", "Generation", "CompensateGeneration", "CompensateRequirements"]:
        assert states[name] == COMPENSATED, name
    assert states["Execution"] == FAILED
    assert found["states"]["Execution"]["errors"] == ["AgentPermanentError"]
    assert found["states"]["Execution"]["attempts"] == 1  # a permanent error is never retried
    # Execution failed itself: its compensation cleaned up after it and keeps its own outcome.
    assert states["CompensateExecution"] == SUCCEEDED
    assert found["states"]["CompensateExecution"]["compensates"] == "Execution"
    assert states["RolledBack"] == FAILED
    for name in ["Observation", "Analysis", "Evolution", "SagaSucceeded", "InputRejected"]:
        assert states[name] == NOT_RUN, name
    assert states["ReportCompensationFailure"] == states["CompensationFailed"] == NOT_RUN
    assert ["Execution", "CompensateExecution"] in found["transitions"]


def test_history_is_the_console_rows(viewed: Viewed, stack: EmbeddedStack):
    found = get_json(f"{viewed.url}/api/executions/{viewed.failed['name']}")
    expected = rows(stack.history(viewed.failed["executionArn"]), cause_limit=CAUSE_LIMIT)
    assert found["history"] == expected
    failures = [r for r in found["history"] if r["type"] == "TaskFailed"]
    assert failures and failures[0]["state"] == "Execution"


def test_unknown_executions_and_paths_answer_404(viewed: Viewed):
    assert get(f"{viewed.url}/api/executions/no-such-saga")[0] == 404
    assert get(f"{viewed.url}/executions/no-such-saga")[0] == 404
    assert get(f"{viewed.url}/executions/..%2F..%2Fetc")[0] == 404
    assert get(f"{viewed.url}/nowhere")[0] == 404


def test_the_viewer_listens_on_loopback_only(stack: EmbeddedStack):
    server, url = serve(stack.client, stack.state_machine_arn, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert url.startswith("http://127.0.0.1:")
    finally:
        server.shutdown()
        server.server_close()


# -- the HTML pages ---------------------------------------------------------------------------------


def test_index_links_every_execution_with_its_status(viewed: Viewed):
    status, page = get(f"{viewed.url}/")
    assert status == 200
    for described in (viewed.happy, viewed.failed):
        assert f'href="/executions/{described["name"]}"' in page
    assert "SUCCEEDED" in page and "FAILED" in page
    assert "<script" not in page  # no JavaScript at all


def test_execution_page_shows_graph_legend_and_history(viewed: Viewed):
    status, page = get(f"{viewed.url}/executions/{viewed.failed['name']}")
    assert status == 200
    assert "<svg" in page and "<script" not in page  # inline SVG, no JavaScript
    assert "<link" not in page and "src=" not in page and "url(http" not in page  # nothing fetched
    states = compile_saga(TEST_GENERATION)["States"]
    for name in states:
        assert f'data-state="{name}"' in page
        assert f">{name}</text>" in page  # the name is visible text inside the node
    assert 'data-state="Execution" data-outcome="failed"' in page
    assert 'data-state="CompensateExecution" data-outcome="succeeded"' in page
    for swatch in OUTCOME_PALETTE.values():
        assert swatch.label in page  # the legend
    assert "AgentPermanentError injected permanent fault at Execution" in page
    assert page.count("<tr") > 30  # one row per history event


class FakeStepFunctions:
    """Just enough of a Step Functions client for one execution with hostile text in it."""

    class exceptions:  # mirrors boto3's client.exceptions
        class ExecutionDoesNotExist(Exception):
            pass

        class InvalidArn(Exception):
            pass

    HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'

    def __init__(self, listed_name: str = "evil", cause: str = HOSTILE) -> None:
        self.definition = compile_saga(TEST_GENERATION)
        self.listed_name, self.cause = listed_name, cause

    def describe_state_machine(self, **_: Any) -> dict[str, Any]:
        return {"definition": json.dumps(self.definition)}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        from datetime import UTC, datetime

        if not executionArn.endswith(":evil"):
            raise self.exceptions.ExecutionDoesNotExist(executionArn)
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        return {
            "name": "evil",
            "executionArn": executionArn,
            "status": "FAILED",
            "startDate": moment,
            "stopDate": moment,
            "error": self.HOSTILE,
            "cause": self.cause,
        }

    def get_paginator(self, operation: str) -> Any:
        from datetime import UTC, datetime

        moment = datetime(2026, 1, 1, tzinfo=UTC)
        events = [
            {"id": 1, "type": "ExecutionStarted", "timestamp": moment},
            {
                "id": 2,
                "type": "TaskStateEntered",
                "timestamp": moment,
                "stateEnteredEventDetails": {"name": "Requirements"},
            },
            {
                "id": 3,
                "type": "LambdaFunctionFailed",
                "timestamp": moment,
                "lambdaFunctionFailedEventDetails": {"error": self.HOSTILE, "cause": self.cause},
            },
            {
                "id": 4,
                "type": "ExecutionFailed",
                "timestamp": moment,
                "executionFailedEventDetails": {"error": self.HOSTILE, "cause": self.HOSTILE},
            },
        ]
        listed = [{"name": self.listed_name, "executionArn": "arn", "status": "FAILED", "startDate": moment}]
        pages = {"get_execution_history": [{"events": events}], "list_executions": [{"executions": listed}]}

        class Paginator:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return pages[operation]

        return Paginator()


def test_everything_from_the_history_is_html_escaped():
    fake = FakeStepFunctions()
    server, url = serve(lambda service: fake, "arn:aws:states:us-east-1:1:stateMachine:M", 0)
    try:
        status, page = get(f"{url}/executions/evil")
        assert status == 200
        assert "<script>" not in page and "<img" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
        assert 'data-state="Requirements" data-outcome="failed"' in page
        status, index = get(f"{url}/")
        assert status == 200 and 'href="/executions/evil"' in index
    finally:
        server.shutdown()
        server.server_close()


def test_the_templates_escape_a_state_cause_and_names_once():
    """Jinja2 escapes every value from an execution; the graph's SVG is inserted as it is."""
    hostile = FakeStepFunctions.HOSTILE
    lambda_cause = json.dumps({"errorMessage": hostile, "errorType": "Boom", "stackTrace": []})
    fake = FakeStepFunctions(listed_name=hostile, cause=lambda_cause)
    server, url = serve(lambda service: fake, "arn:aws:states:us-east-1:1:stateMachine:M<b>", 0)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    try:
        status, page = get(f"{url}/executions/evil")
        assert status == 200
        assert "<script" not in page and "<img" not in page and "<b>" not in page
        assert "&amp;lt;" not in page and "&lt;svg" not in page  # nothing escaped twice
        assert "<svg" in page and 'data-state="Requirements" data-outcome="failed"' in page
        # The state's failure in the history: its error, then its cause's message.
        assert f'<td colspan="3">{escaped} {escaped}</td>' in page
        # The execution's facts: the error, the cause's message, and the whole cause folded away.
        assert f"<code>{escaped}</code>" in page
        assert f"<dt>Cause</dt><dd>{escaped}<details>" in page
        assert "<pre>{&#34;errorMessage&#34;: &#34;&lt;script&gt;" in page
        assert "execution:M&lt;b&gt;:evil" in page  # the execution's ARN in the header

        status, index = get(f"{url}/")
        assert status == 200
        assert "<script" not in index and "<img" not in index and "<b>" not in index
        assert f'<a href="/executions/{quote(hostile)}">{escaped}</a>' in index
        assert "stateMachine:M&lt;b&gt;" in index
    finally:
        server.shutdown()
        server.server_close()


# -- outcomes from synthetic histories (what the demo sagas do not cover) ---------------------------


def event(n: int, kind: str, **details: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": n, "type": kind, "timestamp": float(n)}
    if details:
        key = kind[0].lower() + kind[1:]
        key = "stateEnteredEventDetails" if kind.endswith("StateEntered") else key + "EventDetails"
        if kind.endswith("StateExited"):
            key = "stateExitedEventDetails"
        found[key] = details
    return found


def history(*steps: tuple[str, ...]) -> list[dict[str, Any]]:
    events = [event(1, "ExecutionStarted")]
    for step in steps:
        kind, *rest = step
        if kind.endswith(("StateEntered", "StateExited")):
            events.append(event(len(events) + 1, kind, name=rest[0]))
        elif rest:
            events.append(event(len(events) + 1, kind, error=rest[0], cause="why"))
        else:
            events.append(event(len(events) + 1, kind))
    return events


def test_a_retried_step_a_running_step_and_nested_map_failures():
    definition = compile_saga(TEST_GENERATION)
    events = history(
        ("TaskStateEntered", "Requirements"),
        ("LambdaFunctionScheduled",),
        ("LambdaFunctionFailed", "AgentTransientError"),
        ("LambdaFunctionScheduled",),
        ("LambdaFunctionSucceeded",),
        ("TaskStateExited", "Requirements"),
        ("TaskStateEntered", "Generation"),
        ("LambdaFunctionScheduled",),
    )
    runs = outcomes(definition, events)
    assert runs["Requirements"].outcome == RETRIED
    assert runs["Requirements"].attempts == 2
    assert runs["Generation"].outcome == RUNNING
    assert runs["Execution"].outcome == NOT_RUN
    assert transitions_taken(definition, events) == [("Requirements", "Generation")]

    timed_out = [*events, event(len(events) + 1, "ExecutionTimedOut")]
    assert outcomes(definition, timed_out)["Generation"].outcome == FAILED

    mapped = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Task", "End": True}}},
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    events = history(
        ("MapStateEntered", "Fan"),
        ("TaskStateEntered", "One"),
        ("LambdaFunctionFailed", "ItemFailed"),  # an item's failure, caught inside the Map
        ("TaskStateExited", "One"),
        ("MapStateSucceeded",),
        ("MapStateExited", "Fan"),
        ("SucceedStateEntered", "Done"),
        ("SucceedStateExited", "Done"),
        ("ExecutionSucceeded",),
    )
    runs = outcomes(mapped, events)
    assert (runs["Fan"].outcome, runs["Done"].outcome) == (SUCCEEDED, SUCCEEDED)


def test_a_failing_compensation_leaves_its_step_succeeded():
    definition = compile_saga(TEST_GENERATION)
    steps: list[tuple[str, ...]] = []
    for name in ["Requirements", "Generation"]:
        steps += [("TaskStateEntered", name), ("LambdaFunctionSucceeded",), ("TaskStateExited", name)]
    steps += [("TaskStateEntered", "Execution"), ("TaskFailed", "AgentPermanentError")]
    steps += [("TaskStateExited", "Execution"), ("TaskStateEntered", "CompensateExecution")]
    steps += [("LambdaFunctionSucceeded",), ("TaskStateExited", "CompensateExecution")]
    steps += [("TaskStateEntered", "CompensateGeneration"), ("LambdaFunctionFailed", "Boom")]
    steps += [("TaskStateExited", "CompensateGeneration"), ("TaskStateEntered", "ReportCompensationFailure")]
    steps += [("LambdaFunctionSucceeded",), ("TaskStateExited", "ReportCompensationFailure")]
    steps += [("FailStateEntered", "CompensationFailed"), ("ExecutionFailed", "CompensationFailed")]
    runs = outcomes(definition, history(*steps))
    got = {name: run.outcome for name, run in runs.items() if run.outcome != NOT_RUN}
    assert got == {
        "Requirements": SUCCEEDED,  # never undone: left on the dead-letter queue
        "Generation": SUCCEEDED,
        "Execution": FAILED,
        "CompensateExecution": SUCCEEDED,
        "CompensateGeneration": FAILED,
        "ReportCompensationFailure": SUCCEEDED,
        "CompensationFailed": FAILED,
    }


# -- in a real browser --------------------------------------------------------------------------------


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_failed_saga_renders_in_chromium(viewed: Viewed, tmp_path: Path):
    page = f"{viewed.url}/executions/{viewed.failed['name']}"
    shot = tmp_path / "failed.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1400,1000", page, tmp_path=tmp_path)
    assert shot.exists(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    with Image.open(shot) as image:
        assert image.size == (1400, 1000)
        counts = colour_counts(image, [OUTCOME_PALETTE[k].fill for k in (FAILED, SUCCEEDED, COMPENSATED)])
    # More than a legend swatch (22 x 14 px) of each: the nodes themselves are painted.
    for outcome, count in zip((FAILED, SUCCEEDED, COMPENSATED), counts, strict=True):
        assert count > 3_000, f"{outcome}: only {count} pixels of {OUTCOME_PALETTE[outcome].fill}"
    assert counts[2] > counts[1]  # four amber nodes, one green one

    dom = chromium("--dump-dom", page, tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in compile_saga(TEST_GENERATION)["States"]:
        assert f'data-state="{name}"' in dom.stdout
        assert f">{name}</text>" in dom.stdout
    assert 'data-outcome="compensated"' in dom.stdout


def colour_counts(image: Image.Image, colours: list[str], tolerance: int = 6) -> list[int]:
    """How many pixels are within ``tolerance`` of each ``#rrggbb`` colour."""
    # A screenshot has a few thousand distinct colours: count those, not 1.4 million pixels.
    found = image.convert("RGB").getcolors(maxcolors=image.width * image.height) or []

    def near(rgb: tuple[int, ...], target: tuple[int, ...]) -> bool:
        return all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))

    targets = [ImageColor.getrgb(colour) for colour in colours]
    return [sum(n for n, rgb in found if near(rgb, target)) for target in targets]
