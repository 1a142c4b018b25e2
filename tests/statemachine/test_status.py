"""The status query tells the truth, executed on the embedded stack: completed lists the steps
that succeeded (not those with a ledger entry), the callback step is current while it runs,
and a failed saga names the step that failed, its error and cause, or a cancel's reason."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from functions.agents import callback
from functions.agents.requirements import derive_scenarios
from functions.common.models import SagaRequest
from functions.common.store import DynamoSagaStore
from functions.control import SagaControl
from functions.control.records import SagaRecords
from statemachines.catalogue import SAGAS
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import stepfunctions

pytestmark = pytest.mark.statemachine

FORWARD = ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]
PARALLEL = "parallel-test-generation"
REVIEWED = "reviewed-test-generation"


def control(stack: EmbeddedStack, machine: str = "test-generation") -> SagaControl:
    """The status query as the API function runs it: with the deployed audit table."""
    settings = stack.settings()
    return SagaControl(
        stack.machine_arn(machine),
        SagaRecords(settings.sagas_table),
        DynamoSagaStore(settings),
        [step.name for step in SAGAS[machine].steps if not step.gate],
        audit_table=stack.table("audit"),
    )


def poll(query: Any, until: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = query()
        if until(status):
            return dict(status)
        time.sleep(0.02)
    raise AssertionError(f"status never matched; last: {status}")


@pytest.mark.parametrize(
    ("failed", "fault", "cause"),
    [
        # wrote half its tests, then failed: its ledger entry lists what it wrote
        ("Generation", "partial", "injected crash at Generation after writing 3 item(s)"),
        # failed before writing: the compensation's fence gave it a ledger entry
        ("Execution", "permanent", "injected permanent fault at Execution"),
    ],
)
def test_a_failed_step_is_not_completed_and_status_names_it(
    stack, request_doc, saga_name, failed, fault, cause
):
    stack.wait(stack.start(request_doc, {failed: {"mode": fault}}, name=saga_name))
    status = control(stack).status(saga_name)

    assert failed in status["ledger"]  # what "completed" used to mean
    assert status["status"] == "FAILED" and status["current_step"] is None
    assert status["completed_steps"] == FORWARD[: FORWARD.index(failed)]
    assert status["failure"] == {"step": failed, "error": "AgentPermanentError", "cause": cause}


def test_execution_is_the_current_step_while_it_runs(stack, request_doc, saga_name, monkeypatch):
    release = threading.Event()
    report = callback.report

    def held(*args: Any, **kwargs: Any) -> Any:  # Execution has done its work but not reported yet
        release.wait(20)
        return report(*args, **kwargs)

    monkeypatch.setattr(callback, "report", held)
    arn = stack.start(request_doc, name=saga_name)
    query = control(stack)
    try:
        running = poll(
            lambda: query.status(saga_name),
            lambda s: s["ledger"].get("Execution", {}).get("runs") == 7,  # every run recorded
        )
    finally:
        release.set()
    assert running["status"] == "RUNNING"
    assert running["current_step"] == "Execution"
    assert running["completed_steps"] == ["Requirements", "Generation"]
    assert running["failure"] is None

    assert stack.wait(arn)["status"] == "SUCCEEDED"
    done = query.status(saga_name)
    assert done["completed_steps"] == FORWARD
    assert done["current_step"] is None and done["failure"] is None


def test_a_refused_target_names_execution_and_the_reason(stack, request_doc, saga_name):
    request_doc["target_url"] = "http://10.0.0.5/"  # refused before any connection is tried
    stack.wait(stack.start(request_doc, name=saga_name))
    status = control(stack).status(saga_name)

    assert status["outcome"]["error"] == "SagaRolledBack"
    assert status["completed_steps"] == ["Requirements", "Generation"]
    failure = status["failure"]
    assert failure["step"] == "Execution" and failure["error"] == "TargetRefused"
    assert "10.0.0.5" in failure["cause"] and "private" in failure["cause"], failure


def test_a_parallel_step_that_fails_its_policy_is_named(stack, request_doc, saga_name):
    first = derive_scenarios(SagaRequest.model_validate(request_doc), saga_name)[0]
    faults = {"ExecuteTest": {"mode": "permanent", "items": [first.scenario_id.replace("sc-", "t-", 1)]}}
    stack.wait(stack.start(request_doc, faults, name=saga_name, machine=PARALLEL))
    status = control(stack, PARALLEL).status(saga_name)

    assert "Execution" in status["ledger"]  # the items that succeeded recorded their runs
    assert status["completed_steps"] == ["Requirements", "Generation"]
    failure = status["failure"]
    assert failure["step"] == "Execution" and failure["error"] == "AgentPermanentError"
    assert failure["cause"].startswith("2 of 7 items failed"), failure  # scenario 0 has two tests


def test_a_cancel_names_the_gate_and_the_reviewers_reason(stack, request_doc, saga_name):
    arn = stack.start(request_doc, name=saga_name, machine=REVIEWED)
    query = control(stack, REVIEWED)
    waiting = poll(lambda: query.status(saga_name), lambda s: s["approval_pending"])
    assert waiting["current_step"] == "AwaitApproval" and waiting["failure"] is None
    assert waiting["completed_steps"] == ["Requirements", "Generation"]

    query.cancel(saga_name, "target site is being redesigned", sender="bob")
    expected = {"step": "AwaitApproval", "error": "SagaCancelled", "cause": "target site is being redesigned"}
    assert query.status(saga_name)["failure"] == expected  # at once, before the rollback ends
    assert stack.wait(arn)["status"] == "FAILED"
    status = query.status(saga_name)
    assert status["outcome"]["cause"].startswith("A step failed")  # the saga's own outcome
    assert status["failure"] == expected
    assert status["completed_steps"] == ["Requirements", "Generation"]


def test_a_gate_that_timed_out_is_named_with_the_timeout(stack, request_doc, saga_name):
    stepfunctions.TIME.per_state["AwaitApproval"] = 0.00001  # the gate's day -> 0.86 s
    stack.wait(stack.start(request_doc, name=saga_name, machine=REVIEWED))
    status = control(stack, REVIEWED).status(saga_name)

    assert status["completed_steps"] == ["Requirements", "Generation"]
    assert status["failure"] == {"step": "AwaitApproval", "error": "States.Timeout", "cause": None}
