"""The saga HTTP API (functions/api, functions/handlers/api.py) served by stepsaga/cli/api_server.py
over the embedded stack, driven with urllib; then the saga CLI (stepsaga/cli/saga.py) against it."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.api import history as api_history
from functions.api.routes import ROUTES
from functions.common.arns import execution_arn
from functions.common.models import MAX_PROJECTS
from functions.common.names import API_MACHINES, PARENT_MACHINES, SAGA_MACHINES
from stepsaga.cli import history as console_history
from stepsaga.cli.api_server import ApiServer, match_resource, serve, to_event
from stepsaga.cli.demo_site import STORIES, UNMET_STORY, DemoSite
from stepsaga.embedded import EmbeddedStack

pytestmark = pytest.mark.functional

MACHINES = API_MACHINES


# -- helpers -------------------------------------------------------------------------------
class Api:
    def __init__(self, server: ApiServer, stack: EmbeddedStack, site: DemoSite) -> None:
        self.server, self.stack, self.site = server, stack, site
        self.url = server.url

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key is not None:
            request.add_header("Idempotency-Key", key)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null"), dict(error.headers)

    def request_doc(self, **changes: Any) -> dict[str, Any]:
        return {"project": "acme-web", "target_url": self.site.url, "user_stories": list(STORIES), **changes}

    def start(self, key: str, machine: str = "test-generation", **extra: Any) -> dict[str, Any]:
        status, body, _ = self.call(
            "POST", "/sagas", {"request": self.request_doc(), "machine": machine, **extra}, key=key
        )
        assert status == 201, body
        return body

    def status(self, saga_id: str) -> dict[str, Any]:
        status, body, _ = self.call("GET", f"/sagas/{saga_id}")
        assert status == 200, body
        return body

    def wait_for_approval(self, saga_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(saga_id)
            if body["approval_pending"]:
                return body
            assert body["status"] == "RUNNING", body
            time.sleep(0.05)
        raise TimeoutError(f"{saga_id} never waited for approval")


def _executions(stack: EmbeddedStack) -> int:
    sfn = stack.client("stepfunctions")
    total = 0
    for machine in MACHINES:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.machine_arn(machine)):
            total += len(page["executions"])
    return total


def _items(stack: EmbeddedStack) -> dict[str, int]:
    ddb = stack.client("dynamodb")
    return {
        kind: ddb.scan(TableName=stack.table(kind), Select="COUNT")["Count"]
        for kind in ("scenarios", "sagas")
    }


def _settle(stack: EmbeddedStack, timeout: float = 60) -> None:
    """Wait until no saga is working (running ones only wait at an approval gate)."""
    sfn = stack.client("stepfunctions")
    ddb = stack.client("dynamodb")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = []
        for machine in MACHINES:
            running = sfn.list_executions(stateMachineArn=stack.machine_arn(machine), statusFilter="RUNNING")
            for execution in running["executions"]:
                item = ddb.get_item(TableName=stack.table("sagas"), Key={"saga_id": {"S": execution["name"]}})
                if item.get("Item", {}).get("status", {}).get("S") != "AWAITING_APPROVAL":
                    busy.append(execution["name"])
        if not busy:
            return
        time.sleep(0.05)
    raise TimeoutError(f"sagas still working: {busy}")


def _key() -> str:
    return f"api-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def api(stack: EmbeddedStack, site: DemoSite) -> Iterator[Api]:
    with serve(stack) as server:
        yield Api(server, stack, site)


@pytest.fixture(scope="module")
def finished(api: Api) -> dict[str, Any]:
    """A saga that has run to its end (for requests that need an existing saga)."""
    started = api.start(_key())
    api.stack.wait(started["execution_arn"])
    return started


# -- the route table -------------------------------------------------------------------------
def test_the_resolver_registers_a_handler_at_every_route_of_the_table() -> None:
    from functions.api.app import HANDLERS, app

    assert set(HANDLERS) == {route.operation for route in ROUTES}
    documented = json.loads(app.get_openapi_json_schema(title="t", version="1"))["paths"]
    assert {(path, method.upper()) for path, methods in documented.items() for method in methods} == {
        (route.path, route.method) for route in ROUTES if route.summary is not None
    }


def test_the_local_server_knows_every_resource_of_the_table() -> None:
    for route in ROUTES:
        concrete = route.path.replace("{saga_id}", "s-1")
        expected = {name: "s-1" for name in route.parameters} or None
        assert match_resource(concrete) == (route.path, expected)
    assert match_resource("/sagas/abc/audit") == ("/sagas/{saga_id}/audit", {"saga_id": "abc"})


def test_the_api_takes_exactly_the_sagas_of_the_catalogue() -> None:
    from statemachines.catalogue import PARENTS, SAGAS

    assert tuple(SAGAS) == SAGA_MACHINES
    assert tuple(PARENTS) == PARENT_MACHINES


# -- the event translation -------------------------------------------------------------------
def test_requests_become_rest_proxy_events() -> None:
    assert match_resource("/sagas/abc/history") == ("/sagas/{saga_id}/history", {"saga_id": "abc"})
    assert match_resource("/elsewhere") == ("/{proxy+}", {"proxy": "elsewhere"})
    event = to_event(
        "POST",
        "/sagas/s-1/cancel?x=1&x=2",
        [("Content-Type", "application/json"), ("X-A", "1"), ("X-A", "2")],
        b'{"reason": "r"}',
        "127.0.0.1",
    )
    assert event["resource"] == "/sagas/{saga_id}/cancel"
    assert event["pathParameters"] == {"saga_id": "s-1"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["X-A"] == "2" and event["multiValueHeaders"]["X-A"] == ["1", "2"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["body"] == '{"reason": "r"}' and event["isBase64Encoded"] is False
    binary = to_event("POST", "/sagas", [], b"\xff\xfe", "127.0.0.1")
    assert binary["isBase64Encoded"] is True


def test_history_rows_match_the_console_rows(api: Api, finished: dict[str, Any]) -> None:
    events = api.stack.history(finished["execution_arn"])
    ours = api_history.rows(events)
    _, rule, *lines = console_history.render(events).splitlines()
    columns = [m.span() for m in re.finditer(r"-+", rule)][:4]  # ID, Type, Step, Elapsed
    theirs = [tuple(line[start:end].strip() for start, end in columns) for line in lines]
    assert [(str(r["id"]), r["type"], r["state"], str(r["elapsed_ms"])) for r in ours] == theirs


# -- bad requests: the answer names what is wrong, and nothing is started or written ------------
def _start_body(api: Api, **changes: Any) -> dict[str, Any]:
    return {"request": api.request_doc(**changes)}


def _parent_body(api: Api, count: int = 2, **changes: Any) -> dict[str, Any]:
    projects = [{"request": api.request_doc(project=f"p{i}", **changes)} for i in range(count)]
    return {"machine": "multi-project", "projects": projects}


BAD_STARTS: list[tuple[str, Any, int, str]] = [
    # (case, body or a callable(api) -> body | b"raw", status, fragment of the message)
    ("invalid JSON", b'{"request": ', 400, "not valid JSON"),
    ("no body", None, 422, "body: a JSON object is required"),
    ("body is a list", [], 422, "body:"),
    ("missing request", {"faults": {}}, 422, "request: Field required"),
    (
        "missing project",
        lambda a: {"request": {k: v for k, v in a.request_doc().items() if k != "project"}},
        422,
        "request.project: Field required",
    ),
    ("unknown top-level field", lambda a: {**_start_body(a), "colour": "red"}, 422, "colour: Extra inputs"),
    ("unknown request field", lambda a: _start_body(a, colour="red"), 422, "request.colour: Extra inputs"),
    ("stories not a list", lambda a: _start_body(a, user_stories="one story"), 422, "request.user_stories"),
    ("project not a string", lambda a: _start_body(a, project=42), 422, "request.project"),
    ("bad project name", lambda a: _start_body(a, project="-bad!"), 422, "request.project"),
    ("non-http URL", lambda a: _start_body(a, target_url="ftp://example.com/"), 422, "request.target_url"),
    ("not a URL", lambda a: _start_body(a, target_url="not a url"), 422, "request.target_url"),
    ("no stories", lambda a: _start_body(a, user_stories=[]), 422, "request.user_stories"),
    ("blank story", lambda a: _start_body(a, user_stories=["ok story", "   "]), 422, "user story 1 is empty"),
    ("too many stories", lambda a: _start_body(a, user_stories=["s"] * 51), 422, "request.user_stories"),
    (
        "bad percentage",
        lambda a: _start_body(a, tolerated_failure_percentage=101),
        422,
        "request.tolerated_failure_percentage",
    ),
    (
        "bad fault mode",
        lambda a: {**_start_body(a), "faults": {"Generation": {"mode": "explode"}}},
        422,
        "faults.Generation.mode",
    ),
    ("unknown machine", lambda a: {**_start_body(a), "machine": "rocket"}, 422, "machine"),
    (
        "a request on the parent machine",
        lambda a: {**_start_body(a), "machine": "multi-project"},
        422,
        "request: machine 'multi-project' runs one saga per project: send projects",
    ),
    (
        "projects on a saga machine",
        lambda a: {**_parent_body(a), "machine": "test-generation"},
        422,
        "projects: only machine 'multi-project' takes projects; machine 'test-generation' takes one request",
    ),
    (
        "projects without a machine",
        lambda a: {"projects": _parent_body(a)["projects"]},
        422,
        "projects: only machine 'multi-project' takes projects",
    ),
    ("parent without projects", {"machine": "multi-project"}, 422, "projects: Field required by machine"),
    (
        "no projects",
        {"machine": "multi-project", "projects": []},
        422,
        "projects: List should have at least 1",
    ),
    (
        "too many projects",
        lambda a: _parent_body(a, MAX_PROJECTS + 1, user_stories=["s"]),
        422,
        f"projects: List should have at most {MAX_PROJECTS} items",
    ),
    (
        "a project's bad request",
        lambda a: {"machine": "multi-project", "projects": [*_parent_body(a)["projects"], {"request": {}}]},
        422,
        "projects.2.request.project: Field required",
    ),
    (
        "a project's bad URL",
        lambda a: _parent_body(a, target_url="ftp://example.com/"),
        422,
        "projects.0.request.target_url",
    ),
    (
        "a project's unknown field",
        lambda a: {
            "machine": "multi-project",
            "projects": [{**_parent_body(a)["projects"][0], "faults": {}}],
        },
        422,
        "projects.0.faults: Extra inputs",
    ),
    (
        "faults on the parent",
        lambda a: {**_parent_body(a), "faults": {"Generation": {"mode": "permanent"}}},
        422,
        "faults: machine 'multi-project' starts each child saga with its request alone",
    ),
    (
        "lone surrogate in a story",
        lambda a: _start_body(a, user_stories=["ok story", "a \ud800 story"]),
        422,
        "request.user_stories.1: Value error, holds a lone surrogate",
    ),
    (
        "misspelt fault state",
        lambda a: {**_start_body(a), "faults": {"Executon": {"mode": "permanent"}}},
        422,
        "faults.Executon: no such state on machine 'test-generation'",
    ),
    (
        "empty fault state",
        lambda a: {**_start_body(a), "faults": {"": {"mode": "permanent"}}},
        422,
        "faults.",
    ),
    (
        "fault at a state of another machine",
        lambda a: {**_start_body(a), "faults": {"ExecuteTest": {"mode": "permanent"}}},
        422,
        "faults.ExecuteTest: no such state",
    ),
    ("nested 2,000 deep", b'{"request": ' + b"[" * 2000 + b"]" * 2000 + b"}", 400, "nested deeper than"),
    ("not UTF-8", b'{"request": "\xff\xfe"}', 400, "body: not UTF-8 text"),
    ("oversize body", lambda a: _start_body(a, user_stories=["x" * 400] * 200), 413, "64 KB"),
]


@pytest.mark.parametrize(
    ("body", "status", "fragment"), [c[1:] for c in BAD_STARTS], ids=[c[0] for c in BAD_STARTS]
)
def test_bad_start_is_refused_and_starts_nothing(api: Api, body: Any, status: int, fragment: str) -> None:
    _settle(api.stack)
    before = (_executions(api.stack), _items(api.stack))
    document = body(api) if callable(body) else body
    key = _key()
    if isinstance(document, bytes):
        code, answer, _ = api.call("POST", "/sagas", raw=document, key=key)
    else:
        code, answer, _ = api.call("POST", "/sagas", document, key=key)
    assert code == status, answer
    assert set(answer) == {"error", "message"}
    assert fragment in answer["message"], answer
    assert (_executions(api.stack), _items(api.stack)) == before
    assert api.call("GET", f"/sagas/{key}")[0] == 404


SIGNALS = [
    ("approve", {}),
    ("cancel", {"reason": "r"}),
    ("priority", {"priority": "high"}),
]
BAD_BODIES = [
    ("not UTF-8", b'{"reason": "\xff"}', "body: not UTF-8 text"),
    ("nested 2,000 deep", b'{"reason": ' + b"[" * 2000 + b"]" * 2000 + b"}", "body: nested deeper than 32"),
]


@pytest.mark.parametrize(("raw", "fragment"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
@pytest.mark.parametrize("signal", [s[0] for s in SIGNALS])
def test_a_body_that_cannot_be_read_is_a_400_everywhere(
    api: Api, finished: dict[str, Any], signal: str, raw: bytes, fragment: str
) -> None:
    _settle(api.stack)
    before = (_executions(api.stack), _items(api.stack), api.stack.items("sagas", finished["saga_id"]))
    code, answer, _ = api.call("POST", f"/sagas/{finished['saga_id']}/{signal}", raw=raw)
    assert code == 400 and answer["error"] == "InvalidJson" and fragment in answer["message"], answer
    after = (_executions(api.stack), _items(api.stack), api.stack.items("sagas", finished["saga_id"]))
    assert after == before


def test_a_signal_with_a_lone_surrogate_is_refused_and_writes_nothing(api: Api) -> None:
    key = _key()
    api.start(key, machine="reviewed-test-generation")
    api.wait_for_approval(key)
    record = api.stack.items("sagas", key)
    for path, body, field in [
        ("cancel", {"reason": "no \ud800"}, "reason"),
        ("approve", {"comment": "\udfff"}, "comment"),
    ]:
        code, answer, _ = api.call("POST", f"/sagas/{key}/{path}", body)
        assert code == 422 and answer["message"].startswith(f"{field}: "), answer
    assert api.stack.items("sagas", key) == record
    code, answer, _ = api.call("POST", f"/sagas/{key}/cancel", {"reason": "done"})
    assert code == 200, answer


BAD_KEYS = [
    ("missing Idempotency-Key", None, "header Idempotency-Key: Field required"),
    ("Idempotency-Key with a space", "has space", "header Idempotency-Key: String should match"),
    # A parent's child saga ids (CHILD_SAGA_ID, ``<parent>-p<index>``) are no client's to take.
    ("Idempotency-Key shaped like a child saga id", "x-p0", "Idempotency-Key: must not end in -p<number>"),
    ("Idempotency-Key too long", "k" * 65, "header Idempotency-Key"),
    ("empty Idempotency-Key", "", "header Idempotency-Key"),
]


@pytest.mark.parametrize(("key", "fragment"), [c[1:] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_start_needs_a_valid_idempotency_key(api: Api, key: str | None, fragment: str) -> None:
    _settle(api.stack)
    before = (_executions(api.stack), _items(api.stack))
    code, answer, _ = api.call("POST", "/sagas", _start_body(api), key=key)
    assert code == 422, answer
    assert answer["error"] == "ValidationError" and fragment in answer["message"], answer
    assert (_executions(api.stack), _items(api.stack)) == before


def test_wrong_content_type_is_refused(api: Api) -> None:
    before = _executions(api.stack)
    code, answer, _ = api.call(
        "POST", "/sagas", raw=b"request=x", key=_key(), headers={"Content-Type": "text/plain"}
    )
    assert code == 415 and "Content-Type: send application/json, not text/plain" in answer["message"], answer
    form = api.call(
        "POST",
        "/sagas",
        raw=b'{"request": {}}',
        key=_key(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form[0] == 415, form
    assert _executions(api.stack) == before


BAD_QUERIES = [
    # (case, method, path, body, status, error, fragment)
    ("status of an unknown saga", "GET", "/sagas/no-such-saga", None, 404, "SagaNotFound", "no-such-saga"),
    (
        "history of an unknown saga",
        "GET",
        "/sagas/no-such-saga/history",
        None,
        404,
        "SagaNotFound",
        "no-such-saga",
    ),
    (
        "approve an unknown saga",
        "POST",
        "/sagas/no-such-saga/approve",
        {},
        404,
        "SagaNotFound",
        "no-such-saga",
    ),
    (
        "cancel an unknown saga",
        "POST",
        "/sagas/no-such-saga/cancel",
        {"reason": "r"},
        404,
        "SagaNotFound",
        "no-such-saga",
    ),
    (
        "priority of an unknown saga",
        "POST",
        "/sagas/no-such-saga/priority",
        {"priority": "high"},
        404,
        "SagaNotFound",
        "no-such-saga",
    ),
    (
        "saga id with bad characters",
        "GET",
        "/sagas/bad%20id!",
        None,
        422,
        "ValidationError",
        "path parameter saga_id",
    ),
    (
        "unknown machine for a saga",
        "GET",
        "/sagas/x?machine=rocket",
        None,
        422,
        "ValidationError",
        "query parameter machine",
    ),
    ("list with limit 0", "GET", "/sagas?limit=0", None, 422, "ValidationError", "query parameter limit"),
    ("list with limit 101", "GET", "/sagas?limit=101", None, 422, "ValidationError", "query parameter limit"),
    (
        "list with a word for limit",
        "GET",
        "/sagas?limit=ten",
        None,
        422,
        "ValidationError",
        "query parameter limit",
    ),
    (
        "list with an unknown status",
        "GET",
        "/sagas?status=DONE",
        None,
        422,
        "ValidationError",
        "query parameter status",
    ),
    (
        "list with a garbage next_token",
        "GET",
        "/sagas?next_token=garbage",
        None,
        400,
        "ValidationError",
        "next_token: not a token this API returned",
    ),
    (
        "list an unknown machine",
        "GET",
        "/sagas?machine=rocket",
        None,
        422,
        "ValidationError",
        "query parameter machine",
    ),
    (
        "history with a bad limit",
        "GET",
        "/sagas/{finished}/history?limit=-1",
        None,
        422,
        "ValidationError",
        "query parameter limit",
    ),
    (
        "history with a bad next_token",
        "GET",
        "/sagas/{finished}/history?next_token=abc",
        None,
        422,
        "ValidationError",
        "query parameter next_token",
    ),
    (
        "bad priority",
        "POST",
        "/sagas/{finished}/priority",
        {"priority": "urgent"},
        422,
        "ValidationError",
        "priority: Input should be 'low', 'normal' or 'high'",
    ),
    (
        "priority missing",
        "POST",
        "/sagas/{finished}/priority",
        {},
        422,
        "ValidationError",
        "priority: Field required",
    ),
    (
        "cancel without a reason",
        "POST",
        "/sagas/{finished}/cancel",
        {},
        422,
        "ValidationError",
        "reason: Field required",
    ),
    (
        "cancel with an empty reason",
        "POST",
        "/sagas/{finished}/cancel",
        {"reason": ""},
        422,
        "ValidationError",
        "reason: String should have at least 1 character",
    ),
    (
        "cancel with a blank reason",
        "POST",
        "/sagas/{finished}/cancel",
        {"reason": "   "},
        422,
        "ValidationError",
        "reason: a cancel needs a reason",
    ),
    (
        "approve with an unknown field",
        "POST",
        "/sagas/{finished}/approve",
        {"by": "me"},
        422,
        "ValidationError",
        "by: Extra inputs",
    ),
    ("approve a finished saga", "POST", "/sagas/{finished}/approve", {}, 409, "SagaFinished", "has finished"),
    (
        "priority of a finished saga",
        "POST",
        "/sagas/{finished}/priority",
        {"priority": "low"},
        409,
        "SagaFinished",
        "has finished",
    ),
    ("unknown route", "GET", "/nowhere", None, 404, "NotFound", "GET /nowhere"),
    ("wrong method", "DELETE", "/sagas", None, 404, "NotFound", "DELETE /sagas"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error", "fragment"),
    [c[1:] for c in BAD_QUERIES],
    ids=[c[0] for c in BAD_QUERIES],
)
def test_bad_request_is_refused_and_changes_nothing(
    api: Api,
    finished: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
    fragment: str,
) -> None:
    _settle(api.stack)
    before = (_executions(api.stack), _items(api.stack), api.stack.items("sagas", finished["saga_id"]))
    code, answer, _ = api.call(method, path.format(finished=finished["saga_id"]), body)
    assert code == status, answer
    assert answer == {"error": error, "message": answer["message"]}
    assert fragment in answer["message"], answer
    after = (_executions(api.stack), _items(api.stack), api.stack.items("sagas", finished["saga_id"]))
    assert after == before


def test_a_deployment_without_fault_injection_or_a_machine_refuses_them(api: Api) -> None:
    """The API reads what it may do from its environment: faults off, one machine missing."""
    from stepsaga.cli.api_server import ApiServer, handler_environment

    env = handler_environment(api.stack)
    arns = json.loads(env["STATE_MACHINE_ARNS"])
    del arns["parallel-test-generation"]
    restricted = {**env, "ALLOW_FAULT_INJECTION": "false", "STATE_MACHINE_ARNS": json.dumps(arns)}
    _settle(api.stack)
    before = (_executions(api.stack), _items(api.stack))
    with ApiServer(restricted).start() as server:
        other = Api(server, api.stack, api.site)
        faulty = {"request": api.request_doc(), "faults": {"Generation": {"mode": "permanent"}}}
        code, answer, _ = other.call("POST", "/sagas", faulty, key=_key())
        assert code == 422 and answer["message"] == "faults: fault injection is disabled in this deployment"
        parallel = {"request": api.request_doc(), "machine": "parallel-test-generation"}
        code, answer, _ = other.call("POST", "/sagas", parallel, key=_key())
        assert code == 400 and answer == {
            "error": "UnknownMachine",
            "message": "machine: 'parallel-test-generation' is not deployed here",
        }
    assert (_executions(api.stack), _items(api.stack)) == before


def test_approve_a_saga_not_waiting_is_refused(api: Api) -> None:
    """A running saga that is not at its gate (here: stalled at Requirements) cannot be approved."""
    key = _key()
    api.start(key, faults={"Requirements": {"mode": "hang", "seconds": 1.5}})
    code, answer, _ = api.call("POST", f"/sagas/{key}/approve", {})
    assert code == 409, answer
    assert answer["error"] == "SagaNotWaiting" and "not waiting for approval" in answer["message"]
    code, answer, _ = api.call("POST", f"/sagas/{key}/cancel", {"reason": "too early"})
    assert code == 409 and answer["error"] == "SagaNotWaiting", answer
    assert api.stack.items("sagas", key) == []
    assert api.stack.wait(_arn(api, key))["status"] == "SUCCEEDED"


def _arn(api: Api, key: str, machine: str = "test-generation") -> str:
    return execution_arn(api.stack.machine_arn(machine), key)


# -- happy paths ---------------------------------------------------------------------------------
def test_start_status_and_history(api: Api) -> None:
    key = _key()
    code, started, headers = api.call("POST", "/sagas", {"request": api.request_doc()}, key=key)
    assert code == 201, started
    assert started["saga_id"] == key and started["machine"] == "test-generation"
    assert started["execution_arn"] == _arn(api, key)
    assert headers["Location"] == f"/sagas/{key}"
    api.stack.wait(started["execution_arn"])

    status = api.status(key)
    assert status["status"] == "SUCCEEDED" and status["machine"] == "test-generation"
    assert status["completed_steps"] == [
        "Requirements",
        "Generation",
        "Execution",
        "Observation",
        "Analysis",
        "Evolution",
    ]
    assert status["exists_now"]["Requirements"]["scenarios"] == len(STORIES)
    assert status["outcome"]["status"] == "SUCCEEDED"

    code, full, _ = api.call("GET", f"/sagas/{key}/history?limit=1000")
    assert code == 200 and full["next_token"] is None
    rows = full["events"]
    assert rows[0]["type"] == "ExecutionStarted" and rows[-1]["type"] == "ExecutionSucceeded"
    assert {"id", "type", "state", "elapsed_ms", "error"} == set(rows[0])
    assert "Requirements" in {r["state"] for r in rows}

    paged, token = [], None
    while True:
        query = f"?limit=7&next_token={token}" if token else "?limit=7"
        code, page, _ = api.call("GET", f"/sagas/{key}/history{query}")
        assert code == 200 and len(page["events"]) <= 7
        paged += page["events"]
        token = page["next_token"]
        if token is None:
            break
    assert paged == rows


def test_history_shows_the_error_of_a_failed_saga(api: Api) -> None:
    key = _key()
    api.start(key, faults={"Execution": {"mode": "permanent"}})
    api.stack.wait(_arn(api, key))
    code, page, _ = api.call("GET", f"/sagas/{key}/history?limit=1000")
    assert code == 200
    errors = [r for r in page["events"] if r["error"] and r["state"] == "Execution"]
    assert errors and "injected" in errors[0]["error"].lower(), errors
    assert "CompensateRequirements" in {r["state"] for r in page["events"]}
    status = api.status(key)
    assert status["status"] == "FAILED" and status["outcome"]["error"], status
    assert status["exists_now"] == {}, status  # every step's writes compensated
    assert api.stack.items("scenarios", key) == []  # rolled back


def test_status_shows_what_the_saga_found(api: Api) -> None:
    key = _key()
    body = {"request": api.request_doc(user_stories=[*STORIES, UNMET_STORY])}
    code, started, _ = api.call("POST", "/sagas", body, key=key)
    assert code == 201, started
    api.stack.wait(started["execution_arn"])
    found = api.status(key)["results"]
    assert found["tests"] > found["failed"] >= 1 and 0 < found["pass_rate"] < 1, found
    assert any("Enterprise plan" in f["reason"] for f in found["failures"]), found
    assert {p["test_id"] for p in found["proposals"]} >= {f["test_id"] for f in found["failures"]}, found


def test_an_unreachable_target_rolls_the_saga_back(api: Api) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    key = _key()
    body = {"request": api.request_doc(target_url=f"http://127.0.0.1:{closed}")}
    code, started, _ = api.call("POST", "/sagas", body, key=key)
    assert code == 201, started
    described = api.stack.wait(started["execution_arn"])
    assert described["status"] == "FAILED" and described["error"] == "SagaRolledBack", described
    status = api.status(key)
    assert status["failure"]["step"] == "Execution", status
    assert status["failure"]["error"] == "TargetUnreachable", status
    assert "none of the" in status["failure"]["cause"] and "reached the target" in status["failure"]["cause"]
    assert status["results"] is None  # no Analysis ran: nothing to show but the failure


def test_idempotent_start(api: Api) -> None:
    key = _key()
    before = _executions(api.stack)
    document = {"request": api.request_doc()}
    first = api.call("POST", "/sagas", document, key=key)
    again = api.call("POST", "/sagas", document, key=key)  # a retry while the saga runs
    assert first[0] == 201 and again[0] == 200, (first, again)
    assert again[1]["execution_arn"] == first[1]["execution_arn"]
    api.stack.wait(first[1]["execution_arn"])
    closed = api.call("POST", "/sagas", document, key=key)  # a retry after it finished
    assert closed[0] == 200 and closed[1]["execution_arn"] == first[1]["execution_arn"]
    assert closed[1]["status"] == "SUCCEEDED"
    assert _executions(api.stack) == before + 1

    changed = api.call("POST", "/sagas", {"request": api.request_doc(project="other")}, key=key)
    assert changed[0] == 409 and changed[1]["error"] == "IdempotencyConflict", changed
    assert "Idempotency-Key" in changed[1]["message"]
    elsewhere = api.call("POST", "/sagas", {**document, "machine": "reviewed-test-generation"}, key=key)
    assert elsewhere[0] == 409 and "test-generation" in elsewhere[1]["message"], elsewhere
    assert _executions(api.stack) == before + 1


def test_approve_with_priority(api: Api) -> None:
    key = _key()
    api.start(key, machine="reviewed-test-generation")
    waiting = api.wait_for_approval(key)
    assert waiting["current_step"] == "AwaitApproval" and waiting["machine"] == "reviewed-test-generation"

    code, answer, _ = api.call("POST", f"/sagas/{key}/priority", {"priority": "high"})
    assert code == 200 and answer == {"saga_id": key, "signal": "set_priority", "priority": "high"}
    assert api.status(key)["priority"] == "high"

    code, answer, _ = api.call("POST", f"/sagas/{key}/approve", {"comment": "looks good"})
    assert code == 200 and answer == {"saga_id": key, "signal": "approve", "comment": "looks good"}
    api.stack.wait(_arn(api, key, "reviewed-test-generation"))
    status = api.status(key)
    assert status["status"] == "SUCCEEDED"
    assert [s["signal"] for s in status["signals"]] == ["set_priority", "approve"]
    assert status["signals"][-1]["by"] == "127.0.0.1"  # the caller's identity (sourceIp locally)
    assert status["signals"][-1]["comment"] == "looks good"  # kept, in status and the audit record
    _, audited, _ = api.call("GET", f"/sagas/{key}/audit")
    approvals = [e for e in audited["events"] if e["type"] == "signal" and e.get("signal") == "approve"]
    assert [e.get("comment") for e in approvals] == ["looks good"], audited["events"]

    code, answer, _ = api.call("POST", f"/sagas/{key}/approve")
    assert code == 409 and answer["error"] == "SagaFinished", answer


def test_cancel_rolls_the_saga_back(api: Api) -> None:
    key = _key()
    api.start(key, machine="reviewed-test-generation")
    api.wait_for_approval(key)
    code, answer, _ = api.call("POST", f"/sagas/{key}/cancel", {"reason": "wrong project"})
    assert code == 200 and answer == {"saga_id": key, "signal": "cancel", "reason": "wrong project"}
    described = api.stack.wait(_arn(api, key, "reviewed-test-generation"))
    assert described["status"] != "RUNNING"
    status = api.status(key)
    assert status["signals"][-1]["reason"] == "wrong project"
    assert not status["approval_pending"]
    code, answer, _ = api.call("POST", f"/sagas/{key}/cancel", {"reason": "again"})
    assert code == 409, answer


def test_list_filters_and_pages(api: Api, finished: dict[str, Any]) -> None:
    second = api.start(_key())
    api.stack.wait(second["execution_arn"])
    code, page, _ = api.call("GET", "/sagas?status=SUCCEEDED&limit=1")
    assert code == 200 and len(page["sagas"]) == 1 and page["next_token"], page
    assert page["sagas"][0]["status"] == "SUCCEEDED"
    code, following, _ = api.call("GET", f"/sagas?status=SUCCEEDED&limit=1&next_token={page['next_token']}")
    assert code == 200 and following["sagas"][0]["saga_id"] != page["sagas"][0]["saga_id"]

    code, everything, _ = api.call("GET", "/sagas?limit=100")
    ids = {s["saga_id"] for s in everything["sagas"]}
    assert {finished["saga_id"], second["saga_id"]} <= ids
    code, none_running, _ = api.call("GET", "/sagas?machine=parallel-test-generation&status=TIMED_OUT")
    assert code == 200 and none_running == {"sagas": [], "next_token": None}


def test_openapi_document(api: Api) -> None:
    code, document, _ = api.call("GET", "/openapi.json")
    assert code == 200 and document["info"]["title"] == "stepsaga"
    assert {"/sagas", "/sagas/{saga_id}", "/sagas/{saga_id}/history", "/sagas/{saga_id}/approve"} <= set(
        document["paths"]
    )
    start = document["paths"]["/sagas"]["post"]
    assert any(p["name"].lower() == "idempotency-key" and p["in"] == "header" for p in start["parameters"])
    assert {"201", "409", "413", "422"} <= set(start["responses"])
    error = start["responses"]["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}


# -- the saga CLI (stepsaga/cli/saga.py) against the local server ------------------------------------
def _cli(api: Api, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from stepsaga.cli import saga as saga_cli

    capsys.readouterr()
    code = saga_cli.main(["--endpoint", api.url, *argv])
    captured = capsys.readouterr()
    return code, _without_logs(captured.out), _without_logs(captured.err)


def _without_logs(text: str) -> str:
    """The CLI's own output: the in-process server's handlers log JSON lines to the same stdout."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith('{"level":'))


def test_cli_start_and_wait(api: Api, finished: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    key = _key()
    stories = [arg for story in STORIES for arg in ("--story", story)]
    code, out, err = _cli(
        api,
        capsys,
        "start",
        "--project",
        "acme-web",
        "--target-url",
        api.site.url,
        *stories,
        "--key",
        key,
        "--wait",
        "--interval",
        "0.05",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"started: {key} on test-generation (RUNNING)"
    ended = next(i for i, line in enumerate(lines) if line.startswith(f"{key}: SUCCEEDED after "))
    assert lines[ended + 1].startswith("pass rate:      ") and "tests passed" in lines[ended + 1], out
    code, out, _ = _cli(
        api, capsys, "start", "--project", "acme-web", "--target-url", api.site.url, *stories, "--key", key
    )
    assert code == 0 and out.startswith(f"already started (same Idempotency-Key): {key}"), out

    code, out, _ = _cli(api, capsys, "status", key)
    assert code == 0 and "status:         SUCCEEDED" in out and "Requirements: scenarios 3" in out, out
    code, out, _ = _cli(api, capsys, "history", key)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"{key}: SUCCEEDED"
    assert lines[1].split() == ["ID", "Type", "Step", "Elapsed", "(ms)", "Error", "/", "note"]
    assert set(lines[2]) <= {"-", " "}
    assert lines[3].split()[:2] == ["1", "ExecutionStarted"] and "ExecutionSucceeded" in lines[-1]

    code, out, _ = _cli(api, capsys, "list", "--status", "SUCCEEDED", "--limit", "1")
    assert code == 0 and out.splitlines()[0].split() == ["SAGA", "ID", "MACHINE", "STATUS", "STARTED", "TOOK"]
    assert out.splitlines()[-1].startswith("more: older sagas"), out
    code, out, _ = _cli(
        api, capsys, "list", "--machine", "test-generation", "--status", "SUCCEEDED", "--limit", "1"
    )
    assert code == 0 and out.splitlines()[-1].startswith("more: --next-token "), out
    code, out, _ = _cli(api, capsys, "--json", "list", "--limit", "100")
    assert code == 0 and key in {s["saga_id"] for s in json.loads(out)["sagas"]}


def test_cli_starts_a_parent_saga_and_waits_for_its_children(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _key()
    code, out, err = _cli(
        api,
        capsys,
        *("start", "--machine", "multi-project", "--project", "web", "--project", "shop"),
        *("--target-url", api.site.url, "--story", STORIES[0], "--key", key, "--wait", "--interval", "0.05"),
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"started: {key} on multi-project (RUNNING)"
    ended = next(i for i, line in enumerate(lines) if line.startswith(f"{key}: SUCCEEDED after "))
    assert lines[ended + 1 :] == [
        f"child:          {key}-p0 (web) SUCCEEDED",
        f"child:          {key}-p1 (shop) SUCCEEDED",
        "summary:        2 succeeded, 0 failed",
    ], out
    code, out, _ = _cli(api, capsys, "status", key)
    assert code == 0 and f"saga:           {key} (multi-project)" in out, out
    code, out, _ = _cli(api, capsys, "--json", "list", "--limit", "100")
    listed = {s["saga_id"]: s["machine"] for s in json.loads(out)["sagas"]}
    assert listed[key] == "multi-project" and listed[f"{key}-p0"] == "test-generation", listed
    code, out, err = _cli(api, capsys, "approve", key)
    assert code == 1 and "SagaNotSteerable (409): machine: 'multi-project' runs child sagas" in err, err


def test_cli_reviewed_saga_from_a_file(api: Api, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    document = tmp_path / "request.json"
    document.write_text(json.dumps({"request": api.request_doc(), "machine": "reviewed-test-generation"}))
    approved, cancelled = _key(), _key()
    for key in (approved, cancelled):
        code, out, err = _cli(api, capsys, "start", "--file", str(document), "--key", key)
        assert code == 0 and out.strip() == f"started: {key} on reviewed-test-generation (RUNNING)", err
        api.wait_for_approval(key)

    code, out, _ = _cli(api, capsys, "status", approved)
    assert "approval:       pending" in out and "current step:   AwaitApproval" in out, out
    assert _cli(api, capsys, "priority", approved, "high")[1].strip() == f"set_priority: {approved} (high)"
    assert _cli(api, capsys, "approve", approved)[1].strip() == f"approve: {approved}"
    api.stack.wait(_arn(api, approved, "reviewed-test-generation"))
    code, out, _ = _cli(api, capsys, "status", approved)
    assert "status:         SUCCEEDED" in out and "signal:         approve by 127.0.0.1" in out, out

    code, out, _ = _cli(api, capsys, "cancel", cancelled, "--reason", "wrong project")
    assert code == 0 and out.strip() == f"cancel: {cancelled} (wrong project)"
    api.stack.wait(_arn(api, cancelled, "reviewed-test-generation"))
    code, out, _ = _cli(api, capsys, "status", cancelled)
    assert "signal:         cancel by 127.0.0.1 wrong project" in out, out


CLI_ERRORS = [
    # (case, argv, exit code, fragment of the one stderr line)
    ("unknown saga", ["status", "no-such-saga"], 1, "SagaNotFound (404): saga_id: no saga 'no-such-saga'"),
    ("approve a finished saga", ["approve", "{finished}"], 1, "SagaFinished (409)"),
    ("saga id with a space", ["status", "a b"], 1, "(422): path parameter saga_id"),
    ("saga id with a !", ["history", "wow!"], 1, "(422): path parameter saga_id"),
    ("start without a request", ["start"], 1, "start needs --file or --project, --target-url, --story"),
    (
        "request the API refuses",
        ["start", "--project", "p", "--target-url", "ftp://x/", "--story", "s"],
        1,
        "ValidationError (422): request.target_url",
    ),
    (
        "bad key",
        ["start", "--project", "p", "--target-url", "http://x/", "--story", "s", "--key", "a b"],
        1,
        "header Idempotency-Key",
    ),
    ("missing file", ["start", "--file", "/nonexistent/request.json"], 1, "--file /nonexistent/request.json"),
    (
        "file and flags",
        ["start", "--file", "request.json", "--project", "p", "--story", "s"],
        1,
        "--file holds the whole request: drop --project, --story or --file",
    ),
    (
        "bad fault",
        ["start", "--project", "p", "--target-url", "http://x/", "--story", "s", "--fault", "X"],
        1,
        "--fault 'X'",
    ),
    ("bad endpoint", ["--endpoint", "ftp://x", "status", "a"], 1, "--endpoint must be an http(s) URL"),
    (
        "unreachable API",
        ["--endpoint", "http://127.0.0.1:9", "status", "a"],
        1,
        "cannot reach http://127.0.0.1:9",
    ),
]


@pytest.mark.parametrize(
    ("argv", "code", "fragment"), [c[1:] for c in CLI_ERRORS], ids=[c[0] for c in CLI_ERRORS]
)
def test_cli_errors_are_one_line(
    api: Api,
    finished: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    fragment: str,
) -> None:
    before = _executions(api.stack)
    exit_code, out, err = _cli(api, capsys, *[a.format(finished=finished["saga_id"]) for a in argv])
    assert exit_code == code and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert err.startswith(f"stepsaga saga {argv[-2] if argv[0] == '--endpoint' else argv[0]}: ")
    assert _executions(api.stack) == before


def test_cli_usage_errors(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(api, capsys, "cancel", "some-saga")[0] == 2  # --reason is required
    assert _cli(api, capsys, "priority", "some-saga", "urgent")[0] == 2
    assert _cli(api, capsys)[0] == 2


def test_cli_signs_with_an_aws_profile(
    api: Api, capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepsaga.cli.saga import _signer

    credentials = tmp_path / "credentials"
    credentials.write_text("[tester]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    headers = _signer("tester", "eu-west-1")("GET", "https://api.example/prod/sagas?limit=1", None, {})
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    code, _, err = _cli(api, capsys, "--aws-profile", "tester", "list", "--limit", "1")
    assert code == 0, err  # the local server ignores the signature; the request still goes through
    code, _, err = _cli(api, capsys, "--aws-profile", "nobody", "list")
    assert code == 1 and "nobody" in err, err


# -- infra/api.py: the API Gateway REST API, as synthesized (cdk-nag runs on the synth) ----------
@pytest.fixture(scope="module")
def api_assembly() -> Any:
    from stepsaga.embedded.stack import EMBEDDED_CONTEXT
    from stepsaga.embedded.synth import cloud_assembly

    return cloud_assembly(EMBEDDED_CONTEXT)


@pytest.mark.infra
def test_the_gateway_serves_exactly_the_routes_of_the_table(api_assembly: Any) -> None:
    from infra import names

    template = json.loads((api_assembly / f"{names.STACK_NAME}.template.json").read_text())

    def of(kind: str) -> dict[str, Any]:
        return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}

    resources = of("AWS::ApiGateway::Resource")

    def path(reference: dict[str, Any]) -> str:
        if "Fn::GetAtt" in reference:  # the API's root resource
            return ""
        resource = resources[reference["Ref"]]
        return f"{path(resource['ParentId'])}/{resource['PathPart']}"

    served = {(path(m["ResourceId"]), m["HttpMethod"]) for m in of("AWS::ApiGateway::Method").values()}
    assert served == {(route.path, route.method) for route in ROUTES}


@pytest.mark.infra
def test_the_gateway_and_the_function_know_the_parent_machine(api_assembly: Any) -> None:
    from functions.api.routes import HANDLER
    from infra import names

    template = json.loads((api_assembly / f"{names.STACK_NAME}.template.json").read_text())
    [model] = [
        v["Properties"]["Schema"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::ApiGateway::Model"
    ]
    assert "required" not in model  # request or projects: the Lambda says which, naming the field
    assert model["properties"]["machine"]["enum"] == list(API_MACHINES)
    projects = model["properties"]["projects"]
    assert (projects["minItems"], projects["maxItems"]) == (1, MAX_PROJECTS)
    assert projects["items"]["required"] == ["request"]

    [function] = [
        v["Properties"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"]["Handler"] == HANDLER
    ]
    variables = function["Environment"]["Variables"]
    assert json.loads(variables["PARENT_CHILDREN"]) == {"multi-project": "test-generation"}
    assert "multi-project" not in json.loads(variables["SAGA_STEPS"])  # no steps of its own to report


@pytest.mark.infra
def test_the_rest_api_is_iam_authorized_throttled_logged_and_validated(api_assembly: Any) -> None:
    from functions.api.routes import HANDLER
    from infra import names
    from infra.api import BURST_LIMIT, RATE_LIMIT
    from infra.names import OUT_API_URL

    template = json.loads((api_assembly / f"{names.STACK_NAME}.template.json").read_text())
    report = json.loads((api_assembly / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" for p in report["pluginReports"])  # cdk-nag clean

    def of(kind: str) -> dict[str, Any]:
        return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}

    methods = of("AWS::ApiGateway::Method")
    assert len(methods) == len(ROUTES)  # one method per route of the table
    for method in methods.values():
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["RequestValidatorId"]
    [start] = [m for m in methods.values() if m["HttpMethod"] == "POST" and "RequestModels" in m]
    assert start["RequestParameters"] == {"method.request.header.Idempotency-Key": True}

    [stage] = of("AWS::ApiGateway::Stage").values()
    assert stage["TracingEnabled"] is True and "DestinationArn" in stage["AccessLogSetting"]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] == RATE_LIMIT
    assert settings[("/*", "*")]["ThrottlingBurstLimit"] == BURST_LIMIT
    assert settings[("/*", "*")]["LoggingLevel"] == "ERROR" and not settings[("/*", "*")]["DataTraceEnabled"]
    assert settings[("/~1sagas", "POST")]["ThrottlingRateLimit"] < RATE_LIMIT
    responses = {r["ResponseType"] for r in of("AWS::ApiGateway::GatewayResponse").values()}
    assert {"BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS", "THROTTLED", "ACCESS_DENIED"} <= responses

    [(function_id, function)] = [
        (k, f) for k, f in of("AWS::Lambda::Function").items() if f["Handler"] == HANDLER
    ]
    assert {"STATE_MACHINE_ARNS", "SAGA_STEPS", "SAGAS_TABLE", "LEDGER_TABLE"} <= set(
        function["Environment"]["Variables"]
    )
    role = function["Role"]["Fn::GetAtt"][0]
    # The role's grants, and its X-Ray policy (infra.defaults.tracing_policy).
    policies = [p for p in of("AWS::IAM::Policy").values() if {"Ref": role} in p["Roles"]]
    for statement in (s for policy in policies for s in policy["PolicyDocument"]["Statement"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith(("states:", "dynamodb:")) for a in actions):
            assert statement["Resource"] != "*" and "*" not in statement["Resource"], statement
    text = json.dumps([policy["PolicyDocument"] for policy in policies])
    assert "SagasTable" in text and "LedgerTable" in text and "ScenariosTable" not in text
    assert OUT_API_URL in template["Outputs"] and function_id.startswith("ApiFunction")


def test_the_audit_record_is_served_without_the_history(api: Api) -> None:
    key = _key()
    api.start(key, faults={"Execution": {"mode": "permanent"}})
    api.stack.wait(_arn(api, key))
    code, page, _ = api.call("GET", f"/sagas/{key}/audit")
    assert code == 200, page
    types = [e["type"] for e in page["events"]]
    assert types[0] == "saga.started" and types[-1] == "saga.finished", types
    assert "step.compensated" in types
    code, page, _ = api.call("GET", "/sagas/no-such-saga/audit")
    assert code == 404 and "no audit record" in page["message"]


def test_cli_audit(api: Api, finished: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(api, capsys, "audit", finished["saga_id"])
    assert code == 0
    assert "saga.started" in out and "saga.finished" in out
