"""The platform's other workflow patterns, executed on the embedded stack: parallel test
execution with a failure policy, one child saga per project, an approval gate steered by
signals and read by the status query, and starting through the versioned ``live`` alias."""

from __future__ import annotations

import json
import time

import pytest

from functions.agents.requirements import derive_scenarios
from functions.common.models import SagaRequest
from functions.control import SagaFinished, SagaNotFound, SagaNotWaiting
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import stepfunctions
from tests.statemachine.saga_assertions import ledger_of

pytestmark = pytest.mark.statemachine

PARALLEL = "parallel-test-generation"
REVIEWED = "reviewed-test-generation"


def _failing_prefixes(request: dict, saga_id: str, indexes: list[int]) -> list[str]:
    scenarios = derive_scenarios(SagaRequest.model_validate(request), saga_id)
    return [scenarios[i].scenario_id.replace("sc-", "t-", 1) for i in indexes]


@pytest.fixture
def fifty(site) -> dict:
    return {
        "project": "wide",
        "target_url": site.url,
        "user_stories": [f"Story {i} about /" for i in range(50)],
    }


def test_parallel_saga_with_fail_policy_compensates_exactly_the_completed_executions(stack, fifty, saga_name):
    failing = _failing_prefixes(fifty, saga_name, [0, 10, 20, 30, 40])
    faults = {"ExecuteTest": {"mode": "permanent", "items": failing}}
    described = stack.wait(stack.start(fifty, faults, name=saga_name, machine=PARALLEL))

    assert described["error"] == "SagaRolledBack"
    assert "5 of 50 items failed" in json.dumps(stack.history(described["executionArn"]), default=str)
    names = [
        n
        for n in stack.state_names(described["executionArn"])
        if n not in ("ExecuteTest", "ExecuteTestFailed")
    ]
    assert names == [
        "Requirements",
        "Generation",
        "Execution",
        "ExecutionPolicy",
        "CompensateExecution",
        "CompensateGeneration",
        "CompensateRequirements",
        "RolledBack",
    ]
    ledger = ledger_of(stack, saga_name)["Execution"]
    runs = stack.items("runs", saga_name)
    assert len(ledger["created_runs"]) == 45  # the five failed executions wrote nothing
    assert sorted(r["test_id"] for r in runs) == ledger["created_runs"]
    assert {r["status"] for r in runs} == {"CLEANED"}
    assert stack.artifact_keys(saga_name) == []
    assert not any(r["test_id"].startswith(tuple(failing)) for r in runs)


def test_parallel_saga_tolerating_ten_percent_succeeds_and_names_the_failures(stack, fifty, saga_name):
    failing = _failing_prefixes(fifty, saga_name, [0, 10, 20, 30, 40])
    faults = {"ExecuteTest": {"mode": "permanent", "items": failing}}
    request = {**fifty, "tolerated_failure_percentage": 10}
    described = stack.wait(stack.start(request, faults, name=saga_name, machine=PARALLEL))

    assert described["status"] == "SUCCEEDED"
    analysis = {r["report"]: r for r in stack.items("reports", saga_name)}["analysis"]
    assert len(analysis["execution_failures"]) == 5
    assert all(item.startswith(tuple(failing)) for item in analysis["execution_failures"])
    assert len(stack.items("runs", saga_name)) == 45


def test_parallel_items_are_retried_on_their_own(stack, fifty, saga_name):
    fifty["user_stories"] = fifty["user_stories"][:5]
    faults = {
        "ExecuteTest": {"mode": "transient", "times": 1, "items": _failing_prefixes(fifty, saga_name, [2])}
    }
    described = stack.wait(stack.start(fifty, faults, name=saga_name, machine=PARALLEL))

    assert described["status"] == "SUCCEEDED"
    failures = [e for e in stack.history(described["executionArn"]) if e["type"] == "LambdaFunctionFailed"]
    assert len(failures) == 1
    assert len(stack.items("runs", saga_name)) == 5


def test_each_parallel_item_is_given_its_id_and_the_faults_alone(stack, fifty, saga_name):
    # The Map's state holds every item's id and every earlier result: handed to each of n items,
    # a saga would copy, log and parse O(n^2) bytes (issue 16). The request (~28 KB at 3,000
    # tests) made each item's events n times bigger too. The faults suffice.
    fifty["user_stories"] = fifty["user_stories"][:5]
    faults = {"Observation": {"mode": "transient", "times": 1}}
    # Started without faults, the input has no $.faults: a path to it would fail the Map.
    for given, name in ((faults, saga_name), (None, f"{saga_name}-none")):
        described = stack.wait(stack.start(fifty, given, name=name, machine=PARALLEL))

        assert described["status"] == "SUCCEEDED"
        payloads = [
            json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
            for e in stack.history(described["executionArn"])
            if e["type"] == "LambdaFunctionScheduled"
        ]
        items = [p for p in payloads if p["context"]["state"] == "ExecuteTest"]
        assert len(items) == 5
        assert all(p["saga"] == {"faults": given or {}} for p in items)


def test_one_failing_project_compensates_the_others_and_rolls_back_the_parent(stack, site, saga_name):
    def project(name: str, stories: list[str]) -> dict:
        return {"request": {"project": name, "target_url": site.url, "user_stories": stories}}

    document = {
        "projects": [
            project("alpha", ["Open / and see 'Welcome'"]),
            project("beta", []),  # invalid: the child rejects it and rolls itself back
            project("gamma", ["Open /pricing and see 'Plans'"]),
        ]
    }
    described = stack.wait(stack.start(None, name=saga_name, machine="multi-project", document=document))

    assert described["error"] == "SagaRolledBack"
    sfn = stack.client("stepfunctions")
    children = {
        e["name"]: e["status"]
        for e in sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation"))["executions"]
        if e["name"].startswith(saga_name)
    }
    assert children == {
        f"{saga_name}-p0": "SUCCEEDED",
        f"{saga_name}-p1": "FAILED",
        f"{saga_name}-p2": "SUCCEEDED",
    }
    rollbacks = {
        e["name"]: e["status"]
        for e in sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation-rollback"))[
            "executions"
        ]
        if e["name"].startswith(saga_name)
    }
    assert rollbacks == {f"{saga_name}-p0": "SUCCEEDED", f"{saga_name}-p2": "SUCCEEDED"}
    for child in (f"{saga_name}-p0", f"{saga_name}-p2"):
        assert stack.items("scenarios", child) == []
        assert {t["status"] for t in stack.items("tests", child)} == {"INVALID"}
    history = json.dumps(stack.history(described["executionArn"]), default=str)
    assert f"{saga_name}-p0" in history and f"{saga_name}-p2" in history  # which children were compensated
    states = stack.state_names(described["executionArn"])
    assert states.count("CompensateProjectSaga") == 2
    assert states[-1] == "RolledBack"


@pytest.mark.parametrize("succeeding", [1, 0], ids=["one-compensated", "none-compensated"])
def test_a_failing_project_rolls_back_the_parent_with_one_or_no_project_to_compensate(
    stack, site, saga_name, succeeding
):
    # One compensated project is the case LocalStack's JSONPath once broke (a one-element
    # projection read as a scalar); none leaves an empty rollback Map.
    ok = {
        "request": {"project": "alpha", "target_url": site.url, "user_stories": ["Open / and see 'Welcome'"]}
    }
    invalid = {"request": {"project": "beta", "target_url": site.url, "user_stories": []}}
    document = {"projects": [ok] * succeeding + [invalid]}
    described = stack.wait(stack.start(None, name=saga_name, machine="multi-project", document=document))

    assert described["error"] == "SagaRolledBack"
    sfn = stack.client("stepfunctions")
    rollbacks = {
        e["name"]: e["status"]
        for e in sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation-rollback"))[
            "executions"
        ]
        if e["name"].startswith(saga_name)
    }
    assert rollbacks == {f"{saga_name}-p{i}": "SUCCEEDED" for i in range(succeeding)}
    states = stack.state_names(described["executionArn"])
    assert states.count("CompensateProjectSaga") == succeeding
    inside_maps = ("RunProjectSaga", "ProjectSagaFailed", "CompensateProjectSaga", "ProjectRollbackFailed")
    assert [s for s in states if s not in inside_maps] == [
        "RunProjectSagas",
        "SummariseProjects",
        "AnyProjectFailed",
        "CompensateProjectSagas",
        "AllRollbacksDone",
        "AnyRollbackFailed",
        "RolledBack",
    ]


def test_a_retried_parent_never_starts_a_duplicate_child(stack, site, saga_name):
    document = {
        "projects": [{"request": {"project": "solo", "target_url": site.url, "user_stories": ["See /"]}}]
    }
    first = stack.start(None, name=saga_name, machine="multi-project", document=document)
    assert stack.wait(first)["status"] == "SUCCEEDED"
    sfn = stack.client("stepfunctions")
    child_arn = (
        stack.machine_arn("test-generation").replace(":stateMachine:", ":execution:") + f":{saga_name}-p0"
    )
    child_input = sfn.describe_execution(executionArn=child_arn)["input"]
    # A retried or redriven parent starts the child under the same name: Step Functions
    # refuses a second execution of that name, so the project's saga cannot run twice.
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(
            stateMachineArn=stack.machine_arn("test-generation"), name=f"{saga_name}-p0", input=child_input
        )
    runs = [
        e
        for e in sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation"))["executions"]
        if e["name"].startswith(saga_name)
    ]
    assert [e["name"] for e in runs] == [f"{saga_name}-p0"]


def _await_gate(stack: EmbeddedStack, saga_id: str) -> dict:
    control = stack.control(REVIEWED)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = control.status(saga_id)
        if status["approval_pending"]:
            return status
        time.sleep(0.01)
    raise AssertionError(f"{saga_id} never reached the approval gate")


def test_approve_continues_the_saga(stack, request_doc, saga_name):
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    status = _await_gate(stack, saga_name)
    assert status["current_step"] == "AwaitApproval"
    assert status["completed_steps"] == ["Requirements", "Generation"]
    assert "task_token" not in json.dumps(status)  # the token is never shown

    stack.control(REVIEWED).approve(saga_name, sender="alice")
    described = stack.wait(arn)

    assert described["status"] == "SUCCEEDED"
    assert stack.state_names(arn)[:4] == ["Requirements", "Generation", "AwaitApproval", "Execution"]
    final = stack.control(REVIEWED).status(saga_name)
    assert final["outcome"]["status"] == "SUCCEEDED"
    assert final["signals"][0]["signal"] == "approve" and final["signals"][0]["by"] == "alice"


def test_cancel_rolls_back_with_the_reason_in_the_history(stack, request_doc, saga_name):
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    _await_gate(stack, saga_name)
    stack.control(REVIEWED).cancel(saga_name, "target site is being redesigned", sender="bob")
    described = stack.wait(arn)

    assert described["error"] == "SagaRolledBack"
    assert stack.state_names(arn) == [
        "Requirements",
        "Generation",
        "AwaitApproval",
        "CompensateGeneration",
        "CompensateRequirements",
        "RolledBack",
    ]
    failed = [e for e in stack.history(arn) if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "SagaCancelled"
    assert failed[0]["taskFailedEventDetails"]["cause"] == "target site is being redesigned"
    assert stack.items("scenarios", saga_name) == []


def test_gate_timeout_rolls_back(stack, request_doc, saga_name):
    stepfunctions.TIME.per_state["AwaitApproval"] = 0.00001  # the gate's day -> 0.86 s
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    described = stack.wait(arn)

    assert described["error"] == "SagaRolledBack"
    timed_out = [e for e in stack.history(arn) if e["type"] == "TaskTimedOut"]
    assert timed_out and timed_out[0]["taskTimedOutEventDetails"]["error"] == "States.Timeout"
    assert stack.state_names(arn)[-3:] == ["CompensateGeneration", "CompensateRequirements", "RolledBack"]


def test_set_priority_is_visible_and_honoured(stack, request_doc, saga_name):
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    _await_gate(stack, saga_name)
    control = stack.control(REVIEWED)
    control.set_priority(saga_name, "high", sender="carol")
    assert control.status(saga_name)["priority"] == "high"
    control.approve(saga_name)
    stack.wait(arn)

    [exited] = [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in stack.history(arn)
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "Execution"
    ]
    assert exited["results"]["Execution"]["priority"] == "high"
    assert exited["results"]["Execution"]["concurrency"] == 8


def test_invalid_signals_are_rejected_and_change_nothing(stack, request_doc, saga_name):
    control = stack.control(REVIEWED)
    with pytest.raises(SagaNotFound):
        control.approve("no-such-saga")
    with pytest.raises(SagaNotFound):
        control.status("no-such-saga")

    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    _await_gate(stack, saga_name)
    with pytest.raises(ValueError, match="priority"):
        control.set_priority(saga_name, "urgent")
    with pytest.raises(ValueError, match="reason"):
        control.cancel(saga_name, "  ")
    before = control.status(saga_name)
    assert before["priority"] == "normal" and before["signals"] == []

    control.approve(saga_name)
    with pytest.raises((SagaNotWaiting, SagaFinished)):
        control.approve(saga_name)  # no longer waiting (or already done)
    stack.wait(arn)
    for signal in (lambda: control.approve(saga_name), lambda: control.cancel(saga_name, "late")):
        with pytest.raises(SagaFinished):
            signal()
    with pytest.raises(SagaFinished):
        control.set_priority(saga_name, "low")
    after = control.status(saga_name)
    assert [s["signal"] for s in after["signals"]] == ["approve"]
    assert after["priority"] == "normal"


def test_a_saga_started_through_the_live_alias_runs_the_published_version(stack, request_doc, saga_name):
    from infra import names

    alias = stack.outputs[names.alias_output("test-generation")]
    assert alias.endswith(":live")
    response = stack.client("stepfunctions").start_execution(
        stateMachineArn=alias, name=saga_name, input=json.dumps({"request": request_doc})
    )
    described = stack.wait(response["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert len(stack.items("scenarios", saga_name)) == 3
