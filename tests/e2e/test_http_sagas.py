"""Sagas over HTTP, whatever serves the API (see conftest.py: --target embedded|localstack|aws).

Only what holds on every target is asserted: API Gateway may refuse a malformed request
itself (400, its own validation) before the Lambda would (422), so both are accepted there.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from functions.api.routes import ROUTES, Route
from tests.e2e.conftest import Target

pytestmark = pytest.mark.e2e

FORWARD = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]


def _is_error(answer: object) -> bool:
    return isinstance(answer, dict) and {"error", "message"} <= set(answer)


# The routes the API serves and documents (a route without a summary, the document's own, is not).
DOCUMENTED = [r for r in ROUTES if r.summary is not None]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _document(target: Target) -> dict[str, Any]:
    code, document = target.request("GET", "/openapi.json")
    assert code == 200, document
    return dict(document)


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> its OpenAPI operation, for every operation the document describes."""
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_openapi_document_describes_exactly_the_route_table(target: Target) -> None:
    operations = _operations(_document(target))
    assert set(operations) == {(r.method, r.path) for r in DOCUMENTED}
    for route in DOCUMENTED:
        where = f"{route.method} {route.path}"
        operation = operations[(route.method, route.path)]
        assert operation["summary"] == route.summary, where
        # Header names are case-insensitive (Powertools documents them in lower case).
        parameters = {
            (p["in"], p["name"].lower() if p["in"] == "header" else p["name"]): p
            for p in operation.get("parameters", [])
        }
        assert {name for kind, name in parameters if kind == "path"} == set(route.parameters), where
        for header in route.headers:
            assert parameters[("header", header.lower())]["required"] is True, (where, header)
        responses = operation["responses"]
        assert all(answer.get("description") for answer in responses.values()), where
        assert any(status.startswith("2") for status in responses), f"{where}: no success answer documented"


def _probe(route: Route, saga_id: str) -> tuple[str, dict[str, str], Any]:
    """A harmless request to a route: a saga no one started, an empty body (it starts nothing)."""
    path = route.path
    for name in route.parameters:
        path = path.replace("{" + name + "}", saga_id)
    headers = {name: saga_id for name in route.headers}
    return path, headers, ({} if route.method in ("POST", "PUT", "PATCH") else None)


def test_every_documented_route_is_served_and_answers_a_documented_status(target: Target) -> None:
    operations = _operations(_document(target))
    for route in DOCUMENTED:
        path, headers, body = _probe(route, target.key())
        code, answer = target.request(route.method, path, body, headers=headers)
        where = f"{route.method} {path}"
        # A route the API lacks answers the resolver's NotFound, not the handler's own 404s.
        assert not (isinstance(answer, dict) and answer.get("error") == "NotFound"), (where, answer)
        responses = operations[(route.method, route.path)]["responses"]
        assert str(code) in responses, f"{where} answered {code}, documented: {sorted(responses)} ({answer})"


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", "/sagas"), ("GET", "/sagas/x/unknown"), ("PUT", "/sagas/x/approve")]
)
def test_what_the_document_does_not_describe_is_not_served(target: Target, method: str, path: str) -> None:
    code, answer = target.request(method, path)
    # API Gateway answers a route it lacks with 403 ("Missing Authentication Token") itself.
    assert code in (403, 404), (code, answer)
    if code == 404:
        assert _is_error(answer) and answer["error"] == "NotFound", answer


def test_a_saga_runs_to_its_end_and_a_retry_returns_it(target: Target) -> None:
    key = target.key()
    body = {"request": target.request_doc()}
    code, first = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    assert code == 201, first
    assert first["saga_id"] == key
    code, again = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    assert code == 200 and again["execution_arn"] == first["execution_arn"], again

    done = target.wait(key, lambda s: s["status"] != "RUNNING")
    assert done["status"] == "SUCCEEDED", done
    assert done["completed_steps"] == FORWARD

    code, history = target.request("GET", f"/sagas/{key}/history", query={"limit": 1000})
    assert code == 200
    types = [row["type"] for row in history["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"

    code, listed = target.request("GET", "/sagas", query={"status": "SUCCEEDED", "limit": 100})
    assert code == 200 and key in {s["saga_id"] for s in listed["sagas"]}


def test_a_reviewed_saga_waits_for_approval(target: Target) -> None:
    key = target.key()
    body = {"request": target.request_doc(), "machine": "reviewed-test-generation"}
    code, started = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    assert code == 201, started
    target.wait(key, lambda s: s["approval_pending"] or s["status"] != "RUNNING")
    code, answer = target.request("POST", f"/sagas/{key}/priority", {"priority": "high"})
    assert code == 200, answer
    code, answer = target.request("POST", f"/sagas/{key}/approve", {})
    assert code == 200, answer
    done = target.wait(key, lambda s: s["status"] != "RUNNING")
    assert done["status"] == "SUCCEEDED" and done["priority"] == "high", done
    code, answer = target.request("POST", f"/sagas/{key}/approve", {})
    assert code == 409 and answer["error"] == "SagaFinished", answer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sagas/e2e-no-such-saga", None),
        ("GET", "/sagas/e2e-no-such-saga/history", None),
        ("POST", "/sagas/e2e-no-such-saga/approve", {}),
        ("POST", "/sagas/e2e-no-such-saga/cancel", {"reason": "none"}),
        ("POST", "/sagas/e2e-no-such-saga/resume", {}),
    ],
)
def test_an_unknown_saga_is_404(target: Target, method: str, path: str, body: object) -> None:
    code, answer = target.request(method, path, body)
    assert code == 404 and _is_error(answer), answer
    assert "e2e-no-such-saga" in answer["message"]


BAD_STARTS = [
    ("invalid JSON", b'{"request": ', (400,), "JSON"),
    ("no request", {"faults": {}}, (400, 422), "request"),
    ("unknown field", {"request": {}, "colour": "red"}, (400, 422), "colour"),
    (
        "stories not a list",
        {"request": {"project": "p", "target_url": "http://x/", "user_stories": "s"}},
        (400, 422),
        "user_stories",
    ),
    (
        "unknown machine",
        {"request": {"project": "p", "target_url": "http://x/", "user_stories": ["s"]}, "machine": "rocket"},
        (400, 422),
        "machine",
    ),
]


@pytest.mark.parametrize(
    ("body", "statuses", "fragment"), [c[1:] for c in BAD_STARTS], ids=[c[0] for c in BAD_STARTS]
)
def test_a_bad_start_is_refused(
    target: Target, body: object, statuses: tuple[int, ...], fragment: str
) -> None:
    key = target.key()
    raw = body if isinstance(body, bytes) else None
    code, answer = target.request(
        "POST", "/sagas", None if raw else body, raw=raw, headers={"Idempotency-Key": key}
    )
    assert code in statuses and _is_error(answer), (code, answer)
    assert fragment.lower() in answer["message"].lower(), answer
    assert target.request("GET", f"/sagas/{key}")[0] == 404


def test_a_start_without_idempotency_key_is_refused(target: Target) -> None:
    body = {"request": {"project": "p", "target_url": "http://x/", "user_stories": ["s"]}}
    code, answer = target.request("POST", "/sagas", body)
    assert code in (400, 422) and _is_error(answer), answer
    assert "idempotency-key" in answer["message"].lower()


def test_bad_list_parameters_are_refused(target: Target) -> None:
    code, answer = target.request("GET", "/sagas", query={"limit": 0})
    assert code in (400, 422) and "limit" in answer["message"], answer


# -- a parent saga (multi-project): one child saga per project ------------------------------
PARENT = "multi-project"
CHILD = "test-generation"
PARALLEL = "parallel-test-generation"


def _project(target: Target, name: str, target_url: str | None = None) -> dict[str, Any]:
    request = {**target.request_doc(), "project": name}
    if target_url is not None:
        request["target_url"] = target_url
    return {"request": request}


def _entered(target: Target, saga_id: str) -> list[str]:
    """The states the saga entered, in order, from the API's history rows (``Map [i]`` inside a Map)."""
    code, history = target.request("GET", f"/sagas/{saga_id}/history", query={"limit": 1000})
    assert code == 200, history
    assert history["next_token"] is None
    return [row["state"] for row in history["events"] if row["type"].endswith("StateEntered")]


def _outside_maps(states: list[str]) -> list[str]:
    return [s for s in states if "[" not in s]


def test_a_parent_saga_runs_one_child_saga_per_project(target: Target) -> None:
    key = target.key()
    body = {"machine": PARENT, "projects": [_project(target, "alpha"), _project(target, "beta")]}
    code, started = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    assert code == 201 and started["machine"] == PARENT, started

    done = target.wait(key, lambda s: s["status"] != "RUNNING")
    assert done["status"] == "SUCCEEDED" and done["machine"] == PARENT, done
    children = [f"{key}-p0", f"{key}-p1"]
    assert [(c["saga_id"], c["project"], c["status"]) for c in done["children"]] == [
        (children[0], "alpha", "SUCCEEDED"),
        (children[1], "beta", "SUCCEEDED"),
    ]
    assert done["summary"] == {"succeeded_count": 2, "failed_count": 0, "failed": [], "to_compensate": []}

    states = _entered(target, key)
    assert _outside_maps(states) == [
        "RunProjectSagas",
        "SummariseProjects",
        "AnyProjectFailed",
        "AllProjectsSucceeded",
    ]
    # The two children run at once: their states interleave, each once.
    assert sorted(s for s in states if "[" in s) == ["RunProjectSaga [0]", "RunProjectSaga [1]"]

    for child in children:  # each child is a saga of its own, found by id on its machine
        status = target.status(child)
        assert status["machine"] == CHILD and status["status"] == "SUCCEEDED", status
        assert status["completed_steps"] == FORWARD
    code, listed = target.request("GET", "/sagas", query={"machine": PARENT, "limit": 100})
    assert code == 200 and key in {s["saga_id"] for s in listed["sagas"]}, listed
    assert {s["machine"] for s in listed["sagas"]} == {PARENT}
    code, answer = target.request("POST", f"/sagas/{key}/priority", {"priority": "high"})
    assert code == 409 and answer["error"] == "SagaNotSteerable", answer


def test_no_client_key_can_take_a_child_saga_id(target: Target) -> None:
    # A key spelling a child's id (``<key>-p0``) let a client start a second saga under it on
    # another machine: same saga id, so the same ledger and data rows, and an ambiguous GET.
    key = target.key()
    body = {"machine": PARENT, "projects": [_project(target, "alpha"), _project(target, "beta")]}
    code, started = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    assert code == 201, started
    done = target.wait(key, lambda s: s["status"] != "RUNNING")
    assert done["status"] == "SUCCEEDED", done
    children = [c["saga_id"] for c in done["children"]]
    assert children == [f"{key}-p0", f"{key}-p1"], children

    parallel = {"machine": PARALLEL, "request": target.request_doc()}
    for taken in (*children, f"{target.key()}-p7"):  # a child's id, or any id shaped like one
        code, refused = target.request("POST", "/sagas", parallel, headers={"Idempotency-Key": taken})
        assert code in (400, 422) and _is_error(refused), refused
        assert "Idempotency-Key" in refused["message"] and "-p<number>" in refused["message"], refused
    for child in children:  # each child id names its child alone, its work intact
        status = target.status(child)
        assert (status["machine"], status["status"]) == (CHILD, "SUCCEEDED"), status
        assert status["completed_steps"] == FORWARD, status


def _refusing_url(target: Target) -> str:
    """A URL on this host where nothing listens: the Execution agent reaches no test's page."""
    if target.name not in ("embedded", "up"):
        pytest.skip(f"the agents of {target.name} do not run on this host: no port here is theirs to miss")
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_failing_second_project_rolls_back_the_first(
    target: Target, request: pytest.FixtureRequest
) -> None:
    key = target.key()
    projects = [_project(target, "alpha"), _project(target, "beta", _refusing_url(target))]
    code, started = target.request(
        "POST", "/sagas", {"machine": PARENT, "projects": projects}, headers={"Idempotency-Key": key}
    )
    assert code == 201, started

    done = target.wait(key, lambda s: s["status"] != "RUNNING")
    first, second = f"{key}-p0", f"{key}-p1"
    assert done["status"] == "FAILED" and done["outcome"]["error"] == "SagaRolledBack", done
    assert [(c["saga_id"], c["status"], c.get("error")) for c in done["children"]] == [
        (first, "SUCCEEDED", None),  # it had succeeded: the parent compensated it
        (second, "FAILED", "SagaRolledBack"),  # it rolled itself back
    ]
    assert done["summary"] == {
        "succeeded_count": 1,
        "failed_count": 1,
        "failed": [second],
        "to_compensate": [first],
    }
    assert _outside_maps(_entered(target, key)) == [
        "RunProjectSagas",
        "SummariseProjects",
        "AnyProjectFailed",
        "CompensateProjectSagas",
        "AllRollbacksDone",
        "AnyRollbackFailed",
        "RolledBack",
    ]
    assert _entered(target, second) == [
        "Requirements",
        "Generation",
        "Execution",
        "CompensateExecution",
        "CompensateGeneration",
        "CompensateRequirements",
        "RolledBack",
    ]
    # Every write of a compensable step is undone in either child. The first also ran Observation,
    # Analysis and Evolution, whose reports no compensation removes (the catalogue declares none).
    reports_only = {step: {"status": "ACTIVE", "reports": 1} for step in FORWARD[3:]}
    assert target.status(first)["exists_now"] == reports_only
    assert target.status(second)["exists_now"] == {}
    assert target.status(first)["rollback"]["status"] == "SUCCEEDED"  # the parent's, by the child's id
    assert target.status(second)["rollback"] is None  # it rolled itself back
    # A parent has no rollback machine: its children roll back on their own.
    code, answer = target.request("POST", f"/sagas/{key}/resume", {})
    assert code == 409 and answer["error"] == "SagaNotResumable", answer
    assert "no rollback machine" in answer["message"], answer
    if target.name == "embedded":  # and DynamoDB and S3 hold nothing of either
        from functions.common.arns import execution_arn
        from tests.statemachine.saga_assertions import assert_nothing_orphaned

        stack = request.getfixturevalue("stack")
        for child in (first, second):
            assert_nothing_orphaned(stack, child)  # scenarios gone, tests INVALID, runs CLEANED, no artifacts
            assert stack.items("tests", child) and stack.items("runs", child)  # both had written some
        rollback = execution_arn(stack.machine_arn(f"{CHILD}-rollback"), first)
        assert (
            stack.client("stepfunctions").describe_execution(executionArn=rollback)["status"] == "SUCCEEDED"
        )


# -- resuming a saga whose rollback failed (POST /sagas/{id}/resume) ---------------------------
# The Execution step fails for good, then so does Generation's compensation: CompensationFailed.
STUCK_ROLLBACK = {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}}


def test_a_saga_that_ended_compensation_failed_is_resumed_by_its_rollback_machine(
    target: Target, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    key = target.key()
    body = {"request": target.request_doc(), "faults": STUCK_ROLLBACK}
    code, started = target.request("POST", "/sagas", body, headers={"Idempotency-Key": key})
    if code == 422 and "fault injection is disabled" in started["message"]:
        pytest.skip(f"{target.name} refuses fault injection")
    assert code == 201, started
    stuck = target.wait(key, lambda s: s["status"] != "RUNNING")
    assert (stuck["status"], stuck["outcome"]["error"]) == ("FAILED", "CompensationFailed"), stuck
    assert stuck["rollback"] is None
    assert {"Requirements", "Generation"} <= set(stuck["exists_now"]), stuck  # left undone

    # The resume runs the rollback without the saga's faults: the injected one does not fire again.
    code, resumed = target.request("POST", f"/sagas/{key}/resume", {})
    assert code == 202, resumed
    rollback = resumed["rollback"]
    assert (resumed["saga_id"], resumed["machine"]) == (key, CHILD)
    assert rollback["execution_arn"].endswith(f"-{CHILD}-rollback:{key}"), rollback  # <stack>-<machine>
    assert rollback["status"] in ("RUNNING", "SUCCEEDED"), rollback

    done = target.wait(key, lambda s: s["rollback"]["status"] != "RUNNING")
    assert done["rollback"]["status"] == "SUCCEEDED", done["rollback"]
    assert done["rollback"]["execution_arn"] == rollback["execution_arn"]
    assert done["status"] == "FAILED"  # the saga's own execution keeps its outcome
    assert done["exists_now"] == {}, done  # everything its compensable steps made is undone
    assert {step: entry["status"] for step, entry in done["ledger"].items()} == dict.fromkeys(
        ("Requirements", "Generation", "Execution"), "COMPENSATED"
    )

    # Again: the same rollback (it ended, so Step Functions would refuse to start its name again).
    code, again = target.request("POST", f"/sagas/{key}/resume", {})
    assert code == 202 and again["rollback"]["execution_arn"] == rollback["execution_arn"], again
    assert again["rollback"]["status"] == "SUCCEEDED"
    # Each accepted resume is in the saga's audit record, with who sent it.
    code, audited = target.request("GET", f"/sagas/{key}/audit")
    resumes = [e for e in audited["events"] if e["type"] == "signal" and e.get("signal") == "resume"]
    assert code == 200 and [r["started"] for r in resumes] == [True, False], audited
    assert {r["rollback"] for r in resumes} == {rollback["execution_arn"]} and all(
        r["sender"] for r in resumes
    )
    # ... and through the CLI, which waits for it.
    from stepsaga.cli import saga as saga_cli

    capsys.readouterr()
    assert saga_cli.main(["resume", key, "--wait", "--endpoint", target.client.endpoint]) == 0
    assert f"rollback SUCCEEDED {rollback['execution_arn']}" in capsys.readouterr().out

    if target.name == "embedded":  # the rollback's path, and what DynamoDB and S3 hold
        from tests.statemachine.saga_assertions import assert_nothing_orphaned

        stack = request.getfixturevalue("stack")
        assert stack.state_names(rollback["execution_arn"]) == [
            "CompensateExecution",  # already COMPENSATED by the saga: a no-op
            "CompensateGeneration",
            "CompensateRequirements",
            "Compensated",
        ]
        assert_nothing_orphaned(stack, key)  # scenarios gone, tests INVALID, no artifacts, each undone once
        assert stack.items("tests", key)  # there were tests to invalidate


def test_only_a_saga_that_ended_unsuccessfully_is_resumed(target: Target) -> None:
    waiting, succeeded = target.key(), target.key()
    reviewed = {"request": target.request_doc(), "machine": "reviewed-test-generation"}
    code, answer = target.request("POST", "/sagas", reviewed, headers={"Idempotency-Key": waiting})
    assert code == 201, answer
    code, answer = target.request(
        "POST", "/sagas", {"request": target.request_doc()}, headers={"Idempotency-Key": succeeded}
    )
    assert code == 201, answer

    target.wait(waiting, lambda s: s["approval_pending"] or s["status"] != "RUNNING")
    code, answer = target.request("POST", f"/sagas/{waiting}/resume", {})
    assert code == 409 and answer["error"] == "SagaNotResumable", answer
    assert "RUNNING" in answer["message"], answer
    code, answer = target.request("POST", f"/sagas/{waiting}/cancel", {"reason": "e2e: resume refused"})
    assert code == 200, answer

    done = target.wait(succeeded, lambda s: s["status"] != "RUNNING")
    assert done["status"] == "SUCCEEDED" and done["rollback"] is None, done
    code, answer = target.request("POST", f"/sagas/{succeeded}/resume", {})
    assert code == 409 and answer["error"] == "SagaNotResumable", answer
    assert "nothing to undo" in answer["message"], answer
    assert target.status(succeeded)["rollback"] is None  # the refusal started nothing

    # Cancelled at its gate, it rolled itself back: FAILED, but nothing is left to resume.
    cancelled = target.wait(waiting, lambda s: s["status"] != "RUNNING")
    assert cancelled["status"] == "FAILED", cancelled
    code, answer = target.request("POST", f"/sagas/{waiting}/resume", {})
    assert code == 409 and answer["error"] == "SagaNotResumable", answer
    assert "nothing to resume" in answer["message"], answer
    assert target.status(waiting)["rollback"] is None
