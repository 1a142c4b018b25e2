"""The audit trail and the active-saga counter on the embedded stack.

Until the Audit and ActiveSagas tables are in the deployed template (``infra.observability``
wired into ``infra/stack.py``), this module creates them in the moto session itself and hands
their names to every in-process Lambda through ``awslambda.RUNTIME_ENV`` for its duration.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions import audit
from functions.audit import active, saga_events
from functions.common import aws
from stepsaga.embedded import EmbeddedStack, events
from stepsaga.embedded.patches import awslambda

pytestmark = pytest.mark.functional

FORWARD = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]
REVIEWED = "reviewed-test-generation"


@pytest.fixture(scope="module")
def tables(stack: EmbeddedStack) -> Iterator[dict[str, str]]:
    ddb = stack.client("dynamodb")
    suffix = uuid.uuid4().hex[:8]
    names = {"audit": f"Audit-{suffix}", "active": f"ActiveSagas-{suffix}"}
    ddb.create_table(
        TableName=names["audit"],
        KeySchema=[
            {"AttributeName": "saga_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "saga_id", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=names["active"],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield names
    ddb.delete_table(TableName=names["audit"])
    ddb.delete_table(TableName=names["active"])


@pytest.fixture
def audited(
    stack: EmbeddedStack, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Audit on for this test: the Lambdas' environment, this thread's (signals), the listener."""
    variables = {audit.AUDIT_TABLE_ENV: tables["audit"], active.ACTIVE_SAGAS_TABLE_ENV: tables["active"]}
    previous = {key: awslambda.RUNTIME_ENV.get(key) for key in variables}
    awslambda.RUNTIME_ENV.update(variables)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    ours = events.listener_for(stack) is None  # once EmbeddedStack installs it, leave it installed
    listener = events.install(stack)
    try:
        yield tables
    finally:
        if ours:
            events.uninstall(listener)
        for key, old in previous.items():
            if old is None:
                awslambda.RUNTIME_ENV.pop(key, None)
            else:
                awslambda.RUNTIME_ENV[key] = old


def _types(record: list[dict[str, Any]]) -> list[str]:
    return [f"{e['type']}:{e.get('step', e.get('status', e.get('signal', '')))}" for e in record]


def _read_when_finished(saga_id: str, table: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The listener runs on the execution's thread before ``wait`` returns; allow a moment anyway."""
    deadline = time.monotonic() + timeout
    while True:
        record = audit.read(saga_id, table=table)
        if (record and record[-1]["type"] == audit.SAGA_FINISHED) or time.monotonic() > deadline:
            return record
        time.sleep(0.01)


def test_a_happy_saga_leaves_its_whole_story(stack, audited, request_doc, saga_name):
    before = active.count("test-generation", table=audited["active"])
    described = stack.run(request_doc, name=saga_name)
    assert described["status"] == "SUCCEEDED"

    record = _read_when_finished(saga_name, audited["audit"])
    expected = ["saga.started:"]
    for step in FORWARD:
        expected += [f"step.started:{step}", f"step.succeeded:{step}"]
    expected.append("saga.finished:SUCCEEDED")
    assert _types(record) == expected
    assert record[0]["saga_type"] == "test-generation"
    assert record[0]["execution_arn"] == described["executionArn"]
    assert [e["at"] for e in record] == sorted(e["at"] for e in record)
    assert all(e["attempt"] == 0 for e in record if e["type"].startswith("step."))
    assert active.count("test-generation", table=audited["active"]) == before


def test_a_rolled_back_saga_records_failure_and_each_compensation(stack, audited, request_doc, saga_name):
    before = active.count("test-generation", table=audited["active"])
    described = stack.run(request_doc, {"Execution": {"mode": "permanent"}}, name=saga_name)
    assert described["error"] == "SagaRolledBack"

    record = _read_when_finished(saga_name, audited["audit"])
    assert _types(record) == [
        "saga.started:",
        "step.started:Requirements",
        "step.succeeded:Requirements",
        "step.started:Generation",
        "step.succeeded:Generation",
        "step.started:Execution",
        "step.failed:Execution",
        "compensation.started:Execution",
        "step.compensated:Execution",
        "compensation.started:Generation",
        "step.compensated:Generation",
        "compensation.started:Requirements",
        "step.compensated:Requirements",
        "saga.finished:FAILED",
    ]
    failure = record[6]
    assert failure["error"] == "AgentPermanentError"  # reported by the callback step itself
    assert failure["message"]
    undone = {e["step"]: e["undone"] for e in record if e["type"] == audit.STEP_COMPENSATED}
    assert undone["Requirements"] and undone["Generation"]  # what each compensation undid
    assert record[-1]["error"] == "SagaRolledBack" and record[-1]["cause"]
    assert active.count("test-generation", table=audited["active"]) == before


def _await_gate(stack: EmbeddedStack, saga_id: str) -> None:
    control = stack.control(REVIEWED)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if control.status(saga_id)["approval_pending"]:
            return
        time.sleep(0.01)
    raise AssertionError(f"{saga_id} never reached the approval gate")


def test_signals_appear_with_their_sender_and_the_saga_counts_as_active(
    stack, audited, request_doc, saga_name
):
    counter = audited["active"]
    before = active.count(REVIEWED, table=counter)
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    _await_gate(stack, saga_name)
    assert active.count(REVIEWED, table=counter) == before + 1

    control = stack.control(REVIEWED)
    control.set_priority(saga_name, "high", sender="alice")
    control.approve(saga_name, sender="bob")
    assert stack.wait(arn)["status"] == "SUCCEEDED"

    record = _read_when_finished(saga_name, audited["audit"])
    signals = [(e["signal"], e["sender"], e.get("priority")) for e in record if e["type"] == audit.SIGNAL]
    assert signals == [("set_priority", "alice", "high"), ("approve", "bob", None)]
    kinds = _types(record)
    assert kinds.index("signal:approve") < kinds.index("step.started:Execution")
    assert kinds[0] == "saga.started:" and kinds[-1] == "saga.finished:SUCCEEDED"
    assert active.count(REVIEWED, table=counter) == before


def test_a_cancel_names_its_sender_and_reason(stack, audited, request_doc, saga_name):
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    _await_gate(stack, saga_name)
    stack.control(REVIEWED).cancel(saga_name, "target is being redesigned", sender="carol")
    assert stack.wait(arn)["error"] == "SagaRolledBack"

    record = _read_when_finished(saga_name, audited["audit"])
    [cancel] = [e for e in record if e["type"] == audit.SIGNAL]
    assert (cancel["signal"], cancel["sender"], cancel["reason"]) == (
        "cancel",
        "carol",
        "target is being redesigned",
    )
    kinds = _types(record)
    assert kinds.index("signal:cancel") < kinds.index("compensation.started:Generation")
    assert kinds[-1] == "saga.finished:FAILED"


def test_redelivered_and_out_of_order_status_events_count_once(audited, monkeypatch):
    monkeypatch.setenv(saga_events.PREFIX_ENV, "StepSaga-")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:StepSaga-counting"
    base = {"stateMachineArn": machine, "startDate": 1_700_000_000_000}

    def detail(name: str, status: str, **extra: Any) -> dict[str, Any]:
        arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        return {**base, "executionArn": arn, "name": name, "status": status, **extra}

    one, two = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    assert saga_events.process(detail(one, "RUNNING"))["active"] == 1
    assert saga_events.process(detail(one, "RUNNING"))["applied"] is False  # redelivered
    assert saga_events.process(detail(two, "RUNNING"))["active"] == 2
    stop = {"stopDate": 1_700_000_001_000}
    assert saga_events.process(detail(one, "SUCCEEDED", **stop))["active"] == 1
    assert saga_events.process(detail(one, "SUCCEEDED", **stop))["applied"] is False
    # A terminal event before its RUNNING: recorded, never counted, the late RUNNING ignored.
    late = f"c-{uuid.uuid4().hex[:8]}"
    assert saga_events.process(detail(late, "ABORTED", **stop))["active"] == 1
    assert saga_events.process(detail(late, "RUNNING"))["applied"] is False
    assert saga_events.process(detail(two, "FAILED", error="SagaRolledBack", **stop))["active"] == 0
    assert active.count("counting", table=audited["active"]) == 0

    record = audit.read(one, table=audited["audit"])
    assert [e["type"] for e in record] == [audit.SAGA_STARTED, audit.SAGA_FINISHED]  # once each


def test_a_counted_status_change_is_audited_in_the_counter_s_transaction(audited, monkeypatch):
    """One call moves the counter and records the event; a change the counter ignores (a late
    RUNNING) or one whose event is already recorded is audited (once) all the same."""
    monkeypatch.setenv(saga_events.PREFIX_ENV, "StepSaga-")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:StepSaga-riding"
    calls: list[str] = []
    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name), "riding-test")

    def detail(name: str, status: str) -> dict[str, Any]:
        arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        return {
            "stateMachineArn": machine,
            "executionArn": arn,
            "name": name,
            "status": status,
            "startDate": 1_700_000_000_000,
            "stopDate": 1_700_000_001_000,
        }

    one, late, known = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(3))
    try:
        saga_events.process(detail(one, "RUNNING"))
        assert calls == ["TransactWriteItems", "GetItem"]  # no PutItem of its own
        saga_events.process(detail(late, "ABORTED"))
        saga_events.process(detail(late, "RUNNING"))  # ignored by the counter, still audited
        change = saga_events.status_change(detail(known, "RUNNING"))
        assert change is not None
        event_type, fields = saga_events.audit_event(change, 0)
        assert audit.append(known, event_type, **fields)  # recorded before the counter moved
        assert saga_events.process(detail(known, "RUNNING"))["active"] == 2  # one and known
    finally:
        events.unregister("before-call.dynamodb.*", unique_id="riding-test")

    table = audited["audit"]
    assert [e["type"] for e in audit.read(one, table=table)] == [audit.SAGA_STARTED]
    assert [e["type"] for e in audit.read(late, table=table)] == [audit.SAGA_STARTED, audit.SAGA_FINISHED]
    assert [e["type"] for e in audit.read(known, table=table)] == [audit.SAGA_STARTED]


def test_audit_records_are_never_overwritten(audited):
    saga_id = f"w-{uuid.uuid4().hex[:8]}"
    table = audited["audit"]
    assert audit.append(saga_id, audit.SAGA_STARTED, table=table, at_ms=5, key="k") is True
    assert audit.append(saga_id, audit.SAGA_STARTED, table=table, at_ms=5, key="k", extra="x") is False
    [only] = audit.read(saga_id, table=table)
    assert "extra" not in only


def test_without_an_audit_table_nothing_is_written(stack, tables, request_doc, saga_name, monkeypatch):
    assert audit.AUDIT_TABLE_ENV not in awslambda.RUNTIME_ENV
    monkeypatch.delenv(audit.AUDIT_TABLE_ENV, raising=False)
    assert stack.run(request_doc, name=saga_name)["status"] == "SUCCEEDED"
    assert audit.read(saga_name, table=tables["audit"]) == []


def _task_event(saga_id: str, state: str, attempt: int = 0, token: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "saga_id": saga_id,
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:StepSaga-x:{saga_id}",
        "state": state,
        "attempt": attempt,
    }
    if token:
        context["task_token"] = token
    return {"saga": {}, "context": context}


def test_a_failing_task_is_audited_and_counted_by_step_and_error(audited, monkeypatch, capsys):
    from functions.audit.steps import lambda_handler
    from stepsaga.cli.metrics_summary import parse

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    @lambda_handler
    def broken(event: dict[str, Any], context: Any) -> None:
        raise ValueError("the agent broke")

    saga_id = f"f-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError):
        broken(_task_event(saga_id, "Generation", attempt=2), None)
    with pytest.raises(ValueError):
        broken(_task_event(saga_id, "CompensateGeneration"), None)

    failures = [s for s in parse(capsys.readouterr().out.splitlines()) if s.name == "StepFailed"]
    assert [(s.dimension("step"), s.dimension("error")) for s in failures] == [
        ("Generation", "ValueError"),
        ("CompensateGeneration", "ValueError"),
    ]
    record = audit.read(saga_id, table=audited["audit"])
    assert [(e["type"], e["step"], e["attempt"]) for e in record] == [
        ("step.started", "Generation", 2),
        ("step.failed", "Generation", 2),
        ("compensation.started", "Generation", 0),
        ("compensation.failed", "Generation", 0),
    ]
    assert record[1]["error"] == "ValueError" and record[1]["message"] == "the agent broke"


def test_a_callback_task_is_audited_by_what_it_reports_with_its_own_token(audited, monkeypatch):
    from botocore.exceptions import ClientError

    from functions.audit.steps import lambda_handler
    from functions.common import aws

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    @lambda_handler
    def callback(event: dict[str, Any], context: Any) -> None:
        sfn = aws.client("stepfunctions")
        for token in ("someone-elses-token", event["context"]["task_token"]):  # only its own counts
            with contextlib.suppress(ClientError):  # the tokens are made up: moto refuses them
                sfn.send_task_failure(taskToken=token, error="AgentPermanentError", cause="target down")

    @lambda_handler
    def gate(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"awaiting_approval": True}  # reports nothing: its outcome is a signal

    saga_id = f"cb-{uuid.uuid4().hex[:8]}"
    assert callback(_task_event(saga_id, "Execution", token="tok-1"), None) is None
    gate(_task_event(saga_id, "AwaitApproval", token="tok-2"), None)
    with contextlib.suppress(ClientError):  # outside any task: not audited
        aws.client("stepfunctions").send_task_failure(taskToken="tok-1", error="X", cause="y")

    record = audit.read(saga_id, table=audited["audit"])
    assert [(e["type"], e["step"]) for e in record] == [
        ("step.started", "Execution"),
        ("step.failed", "Execution"),
        ("step.started", "AwaitApproval"),
    ]
    assert (record[1]["error"], record[1]["message"]) == ("AgentPermanentError", "target down")
