"""stepsaga/cli/viewer.py: the local execution viewer, against sagas run on the embedded stack,
then rendered by headless Chromium (skipped when /usr/bin/chromium is not installed)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from markupsafe import escape
from PIL import Image, ImageColor

from functions.api.history import rows
from statemachines import catalogue
from statemachines.catalogue import TEST_GENERATION
from statemachines.saga import compile_saga
from stepsaga.cli.demo_site import STORIES, DemoSite
from stepsaga.cli.history import CAUSE_LIMIT
from stepsaga.cli.resume import DEMO_FAULTS
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
    server, url = serve(stack.client, stack.state_machine_arn, 0, stack=stack)
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
        machines = [{"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:M", "name": "M"}]
        pages = {
            "get_execution_history": [{"events": events}],
            "list_executions": [{"executions": listed}],
            "list_state_machines": [{"stateMachines": machines}],
        }

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


# -- the console: every machine, a state's input and output, the buttons ----------------------------

REVIEWED = catalogue.REVIEWED_TEST_GENERATION.name


def request_for(site: DemoSite) -> dict[str, Any]:
    return {"project": "acme-web", "target_url": site.url, "user_stories": list(STORIES)}


def at_gate(stack: EmbeddedStack, name: str, timeout: float = 60) -> None:
    """Wait until the reviewed saga ``name`` waits at its gate (its task token is recorded)."""
    ddb = stack.client("dynamodb")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = ddb.get_item(TableName=stack.table("sagas"), Key={"saga_id": {"S": name}})
        if item.get("Item", {}).get("status", {}).get("S") == "AWAITING_APPROVAL":
            return
        time.sleep(0.05)
    raise TimeoutError(f"{name} never reached its gate")


def post(url: str, fields: dict[str, str], origin: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urlencode(fields).encode(), method="POST")
    if origin is not None:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "the page has no form"
    return found[1]


def test_every_machine_and_an_execution_of_each_are_listed(
    viewed: Viewed, stack: EmbeddedStack, site: DemoSite
):
    tag = uuid.uuid4().hex[:10]
    child = {"request": request_for(site)}
    started = {
        catalogue.PARALLEL_TEST_GENERATION.name: stack.start(
            request_for(site), name=f"v-par-{tag}", machine=catalogue.PARALLEL_TEST_GENERATION.name
        ),
        catalogue.MULTI_PROJECT.name: stack.start(
            None, name=f"v-multi-{tag}", machine=catalogue.MULTI_PROJECT.name, document={"projects": [child]}
        ),
        REVIEWED: stack.start(request_for(site), name=f"v-rev-{tag}", machine=REVIEWED),
    }
    try:
        for machine, arn in started.items():
            if machine != REVIEWED:
                stack.wait(arn)
        listed = get_json(f"{viewed.url}/api/executions")
        deployed = stack.client("stepfunctions").list_state_machines()["stateMachines"]
        assert {m["stateMachineArn"] for m in listed["machines"]} == {m["stateMachineArn"] for m in deployed}
        assert {m["name"] for m in listed["machines"]} == set(catalogue.machines())
        by_name = {e["name"]: e for e in listed["executions"]}
        for machine, arn in started.items():
            name = arn.rsplit(":", 1)[-1]
            assert by_name[name]["machine"] == machine
            assert by_name[name]["url"] == f"/executions/{name}?machine={machine}"
            assert get_json(f"{viewed.url}/api/executions/{name}?machine={machine}")["machine"] == machine
        assert by_name[viewed.happy["name"]]["machine"] == TEST_GENERATION.name
        status, index = get(f"{viewed.url}/")
        assert status == 200
        for machine in catalogue.machines():
            assert f'<tr data-machine="{machine}">' in index
        for machine, arn in started.items():
            assert f'href="/executions/{arn.rsplit(":", 1)[-1]}?machine={machine}"' in index
    finally:
        stack.control(REVIEWED).cancel(started[REVIEWED].rsplit(":", 1)[-1], "test over", sender="test")


def test_each_state_row_opens_its_input_and_output(viewed: Viewed, stack: EmbeddedStack):
    name = viewed.failed["name"]
    events = stack.history(viewed.failed["executionArn"])
    entered = next(
        e
        for e in events
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == "Generation"
    )
    exited = next(
        e
        for e in events
        if e["id"] > entered["id"]
        and e["type"].endswith("StateExited")
        and e["stateExitedEventDetails"]["name"] == "Generation"
    )
    status, page = get(f"{viewed.url}/executions/{name}")
    assert status == 200
    assert f'href="/executions/{name}/states/{entered["id"]}"' in page
    assert f'href="/executions/{name}/states/{exited["id"]}"' in page
    for event in (entered, exited):  # the entered row and the exited row open the same state
        status, shown = get(f"{viewed.url}/executions/{name}/states/{event['id']}")
        assert status == 200
        assert "<h1>Generation <small>Task state" in shown
        state_input = json.loads(entered["stateEnteredEventDetails"]["input"])
        state_output = json.loads(exited["stateExitedEventDetails"]["output"])
        assert str(escape(json.dumps(state_input, indent=2, ensure_ascii=False))) in shown
        assert str(escape(json.dumps(state_output, indent=2, ensure_ascii=False))) in shown
    assert get(f"{viewed.url}/executions/{name}/states/1")[0] == 404  # ExecutionStarted: not a state
    assert get(f"{viewed.url}/executions/{name}/states/99999")[0] == 404


def test_approve_at_the_gate_from_the_console(viewed: Viewed, stack: EmbeddedStack, site: DemoSite):
    arn = stack.start(request_for(site), name=f"v-approve-{uuid.uuid4().hex[:10]}", machine=REVIEWED)
    name = arn.rsplit(":", 1)[-1]
    at_gate(stack, name)
    page_url = f"{viewed.url}/executions/{name}?machine={REVIEWED}"
    status, page = get(page_url)
    assert status == 200
    assert "waiting for approval" in page
    assert 'http-equiv="refresh"' not in page  # a reload would wipe a comment being typed
    assert get_json(f"{viewed.url}/api/executions/{name}?machine={REVIEWED}")["waitingForApproval"] == [
        "AwaitApproval"
    ]
    assert 'data-state="AwaitApproval" data-outcome="running"' in page
    assert f'action="/executions/{name}/approve?machine={REVIEWED}"' in page
    assert f'action="/executions/{name}/cancel?machine={REVIEWED}"' in page
    assert "/resume" not in page
    action = f"{viewed.url}/executions/{name}/approve?machine={REVIEWED}"
    # Without the page's token, or from another site's page, nothing happens.
    assert post(action, {"comment": "no token"})[0] == 403
    assert post(action, {"token": token_of(page)}, origin="http://evil.example")[0] == 403
    assert stack.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"

    status, done = post(action, {"token": token_of(page), "comment": "looks right"}, origin=viewed.url)
    assert status == 200, done
    assert f"approved {name}" in done
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    assert post(action, {"token": token_of(page)})[0] == 409  # it is no longer waiting


def test_cancel_at_the_gate_needs_a_reason(viewed: Viewed, stack: EmbeddedStack, site: DemoSite):
    arn = stack.start(request_for(site), name=f"v-cancel-{uuid.uuid4().hex[:10]}", machine=REVIEWED)
    name = arn.rsplit(":", 1)[-1]
    at_gate(stack, name)
    token = token_of(get(f"{viewed.url}/executions/{name}?machine={REVIEWED}")[1])
    action = f"{viewed.url}/executions/{name}/cancel?machine={REVIEWED}"
    status, said = post(action, {"token": token, "reason": "  "})
    assert status == 409 and "reason" in said
    status, done = post(action, {"token": token, "reason": "wrong <project>"})
    assert status == 200, done
    assert "cancelled" in done and "wrong &lt;project&gt;" in done
    described = stack.wait(arn)
    assert described["status"] == "FAILED"
    assert stack.control(REVIEWED).status(name)["status"] != "RUNNING"


def test_resume_a_saga_whose_rollback_failed(viewed: Viewed, stack: EmbeddedStack, site: DemoSite):
    described = stack.run(request_for(site), faults=DEMO_FAULTS, name=f"v-resume-{uuid.uuid4().hex[:10]}")
    name = described["name"]
    status, page = get(f"{viewed.url}/executions/{name}")
    assert status == 200
    assert f'action="/executions/{name}/resume"' in page
    assert "/approve" not in page and "/cancel" not in page
    assert [e["status"] for e in stack.items("ledger", name) if e["step"] == "Generation"] != ["COMPENSATED"]
    status, done = post(f"{viewed.url}/executions/{name}/resume", {"token": token_of(page)})
    assert status == 200, done
    assert "CompensateGeneration: undone" in done and "complete: True" in done
    assert {e["status"] for e in stack.items("ledger", name)} == {"COMPENSATED"}
    # Resumed: its history still ends CompensationFailed, but nothing is left to undo.
    assert f'action="/executions/{name}/resume"' not in get(f"{viewed.url}/executions/{name}")[1]
    # A saga that rolled back cleanly offers nothing, and refuses a forged resume.
    happy = get(f"{viewed.url}/executions/{viewed.failed['name']}")[1]
    assert "<form" not in happy
    assert (
        post(f"{viewed.url}/executions/{viewed.failed['name']}/resume", {"token": token_of(page)})[0] == 409
    )


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


def browser_page() -> Any:
    """A page in headless Chromium driven by Playwright (no browser download: the system's)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (the test extra)"
    )
    return sync_api.sync_playwright()


def launch(playwright: Any) -> Any:
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)


def test_click_through_to_a_state_in_chromium(viewed: Viewed, stack: EmbeddedStack, tmp_path: Path):
    name = viewed.failed["name"]
    events = stack.history(viewed.failed["executionArn"])
    entered = next(
        e
        for e in events
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == "Requirements"
    )
    with browser_page() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{viewed.url}/")
            page.click(f'a[href="/executions/{name}"]')
            page.wait_for_url(f"{viewed.url}/executions/{name}")
            assert page.locator('[data-state="Execution"]').first.get_attribute("data-outcome") == FAILED
            page.screenshot(path=str(tmp_path / "execution.png"), full_page=True)
            row = page.locator("table.events tr", has_text="Requirements")
            row.locator("a", has_text="TaskStateEntered").first.click()
            page.wait_for_url(f"{viewed.url}/executions/{name}/states/{entered['id']}")
            assert page.locator("h1").inner_text().startswith("Requirements")
            shown = json.loads(page.locator("#state-input").inner_text())
            assert shown == json.loads(entered["stateEnteredEventDetails"]["input"])
            assert json.loads(page.locator("#state-output").inner_text())  # its output, as JSON
            page.screenshot(path=str(tmp_path / "state.png"))
            page.click(f'header a[href="/executions/{name}"]')  # and back
            page.wait_for_url(f"{viewed.url}/executions/{name}")
        finally:
            browser.close()
    for shot in ("execution.png", "state.png"):
        with Image.open(tmp_path / shot) as image:
            assert image.width == 1400 and image.height >= 1000
            # A rendered page has text and colour: thousands of distinct colours, not a blank one.
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 24) or []) > 200, shot


def test_approve_with_a_click_in_chromium(
    viewed: Viewed, stack: EmbeddedStack, site: DemoSite, tmp_path: Path
):
    arn = stack.start(request_for(site), name=f"v-click-{uuid.uuid4().hex[:10]}", machine=REVIEWED)
    name = arn.rsplit(":", 1)[-1]
    at_gate(stack, name)
    with browser_page() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{viewed.url}/")
            page.click(f'a[href="/executions/{name}?machine={REVIEWED}"]')
            assert "waiting for approval" in page.locator("dl.facts").inner_text()
            page.screenshot(path=str(tmp_path / "gate.png"))
            page.fill('#approve input[name="comment"]', "ship it")
            page.click('#approve button[type="submit"]')  # a real browser POST: Origin and token pass
            assert f"approved {name}" in page.locator("h1").inner_text()
            assert stack.wait(arn)["status"] == "SUCCEEDED"
            page.click("text=Back to the execution")
            assert page.locator(".status").first.inner_text() == "SUCCEEDED"
            assert page.locator("form").count() == 0
        finally:
            browser.close()
    assert (tmp_path / "gate.png").stat().st_size > 20_000


def colour_counts(image: Image.Image, colours: list[str], tolerance: int = 6) -> list[int]:
    """How many pixels are within ``tolerance`` of each ``#rrggbb`` colour."""
    # A screenshot has a few thousand distinct colours: count those, not 1.4 million pixels.
    found = image.convert("RGB").getcolors(maxcolors=image.width * image.height) or []

    def near(rgb: tuple[int, ...], target: tuple[int, ...]) -> bool:
        return all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))

    targets = [ImageColor.getrgb(colour) for colour in colours]
    return [sum(n for n, rgb in found if near(rgb, target)) for target in targets]


def test_a_request_addressed_to_another_host_name_is_refused(viewed: Viewed) -> None:
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends its own
    # Host header. The console answers only its loopback names (nothing here leaves loopback).
    for path, method in (("/api/executions", "GET"), (f"/executions/{viewed.happy['name']}/approve", "POST")):
        request = urllib.request.Request(
            f"{viewed.url}{path}", method=method, data=b"" if method == "POST" else None
        )
        request.add_header("Host", "evil.example")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 403, (path, status)
    assert get(f"{viewed.url}/api/executions")[0] == 200  # by 127.0.0.1, as ever
