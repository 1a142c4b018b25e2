"""Every path of the test-generation saga, executed on the embedded stack.

Each test starts a real execution of the deployed state machine, then asserts the ordered
state names from its history and the data left in DynamoDB and S3.
"""

from __future__ import annotations

import time

import pytest

from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import stepfunctions
from tests.statemachine.saga_assertions import (
    FORWARD,
    assert_nothing_orphaned,
    dead_letters_for,
    expected_rollback,
    ledger_of,
    scheduled,
)

pytestmark = pytest.mark.statemachine


def run(stack: EmbeddedStack, request_doc: dict, name: str, faults: dict | None = None) -> tuple[dict, str]:
    described = stack.wait(stack.start(request_doc, faults=faults, name=name))
    return described, described["executionArn"]


def test_happy_path_runs_every_agent_and_keeps_the_data(stack, request_doc, saga_name):
    described, arn = run(stack, request_doc, saga_name)

    assert described["status"] == "SUCCEEDED"
    assert stack.state_names(arn) == [*FORWARD, "SagaSucceeded"]
    scenarios = stack.items("scenarios", saga_name)
    tests = stack.items("tests", saga_name)
    runs = stack.items("runs", saga_name)
    assert len(scenarios) == 3
    assert len(tests) == 3 + 4  # one "page loads" test per scenario + one per expected text
    assert {t["status"] for t in tests} == {"GENERATED"}
    assert {r["outcome"] for r in runs} == {"PASSED"}
    assert len(stack.artifact_keys(saga_name)) == len(tests)
    reports = {r["report"]: r for r in stack.items("reports", saga_name)}
    assert reports["analysis"]["pass_rate"] == 1.0
    assert reports["evolution"]["proposals"] == []
    ledger = ledger_of(stack, saga_name)
    assert len(ledger["Requirements"]["created_scenarios"]) == 3
    assert len(ledger["Execution"]["created_artifacts"]) == len(tests)
    assert {e["status"] for e in ledger.values()} == {"ACTIVE"}


def test_failing_checks_are_analysed_and_evolved_not_rolled_back(stack, request_doc, saga_name):
    request_doc["user_stories"] = ["As a buyer I open /pricing and see 'Plans start at $10'", "I open /gone"]
    described, _ = run(stack, request_doc, saga_name)

    assert described["status"] == "SUCCEEDED"
    analysis = {r["report"]: r for r in stack.items("reports", saga_name)}["analysis"]
    assert analysis["pass_rate"] == pytest.approx(1 / 3, abs=0.01)
    proposals = {
        p["change"]: p
        for p in {r["report"]: r for r in stack.items("reports", saga_name)}["evolution"]["proposals"]
    }
    assert proposals["replace_expected_text"]["suggestion"] == "Plans start at $9"
    assert "retire_test" in proposals  # /gone answers 404


@pytest.mark.parametrize("failed", FORWARD)
def test_permanent_failure_rolls_back_completed_steps_in_reverse(stack, request_doc, saga_name, failed):
    described, arn = run(stack, request_doc, saga_name, faults={failed: {"mode": "permanent"}})

    assert described["status"] == "FAILED"
    assert described["error"] == "SagaRolledBack"
    assert stack.state_names(arn) == expected_rollback(failed)
    assert scheduled(stack, arn, failed) == 1  # AgentPermanentError is never retried
    assert_nothing_orphaned(stack, saga_name)
    if FORWARD.index(failed) >= FORWARD.index("Generation") + 1:
        assert len(stack.items("tests", saga_name)) == 7  # kept for audit, all INVALID


def test_transient_failure_is_retried_with_backoff_then_succeeds(stack, request_doc, saga_name):
    skipped_before = stepfunctions.CLOCK.skipped
    described, arn = run(
        stack, request_doc, saga_name, faults={"Generation": {"mode": "transient", "times": 2}}
    )

    assert described["status"] == "SUCCEEDED"
    assert stack.state_names(arn) == [*FORWARD, "SagaSucceeded"]
    assert scheduled(stack, arn, "Generation") == 3  # two failures, then success
    failures = [e for e in stack.history(arn) if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failures] == ["AgentTransientError"] * 2
    # Generation's policy waits 2 s then 4 s; the embedded clock skipped them instead.
    assert stepfunctions.CLOCK.skipped - skipped_before >= 6


def test_transient_failure_of_the_callback_step_is_retried(stack, request_doc, saga_name):
    described, arn = run(
        stack, request_doc, saga_name, faults={"Execution": {"mode": "transient", "times": 1}}
    )

    assert described["status"] == "SUCCEEDED"
    assert scheduled(stack, arn, "Execution") == 2
    assert len(stack.items("runs", saga_name)) == 7


def test_retries_exhausted_then_rolled_back(stack, request_doc, saga_name):
    described, arn = run(stack, request_doc, saga_name, faults={"Generation": {"mode": "exhaust"}})

    assert described["status"] == "FAILED"
    assert scheduled(stack, arn, "Generation") == 4  # first attempt + MaxAttempts 3
    assert stack.state_names(arn) == expected_rollback("Generation")
    assert_nothing_orphaned(stack, saga_name)


def test_partial_write_is_undone_exactly(stack, request_doc, saga_name):
    described, _ = run(stack, request_doc, saga_name, faults={"Generation": {"mode": "partial"}})

    assert described["status"] == "FAILED"
    ledger = ledger_of(stack, saga_name)
    assert len(ledger["Generation"]["created_tests"]) == 3  # half of 7, written before the crash
    assert [t["test_id"] for t in stack.items("tests", saga_name)] == sorted(
        ledger["Generation"]["created_tests"]
    )
    assert_nothing_orphaned(stack, saga_name)


def test_compensation_failing_once_is_retried_and_the_saga_rolls_back(stack, request_doc, saga_name):
    faults = {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "transient", "times": 1}}
    described, arn = run(stack, request_doc, saga_name, faults=faults)

    assert described["error"] == "SagaRolledBack"
    assert scheduled(stack, arn, "CompensateGeneration") == 2
    assert_nothing_orphaned(stack, saga_name)


def test_compensation_failing_for_good_ends_in_compensation_failed_with_a_dead_letter(
    stack, request_doc, saga_name
):
    faults = {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}}
    described, arn = run(stack, request_doc, saga_name, faults=faults)

    assert described["status"] == "FAILED"
    assert described["error"] == "CompensationFailed"
    assert stack.state_names(arn) == [
        "Requirements",
        "Generation",
        "Execution",
        "CompensateExecution",
        "CompensateGeneration",
        "ReportCompensationFailure",
        "CompensationFailed",
    ]
    assert scheduled(stack, arn, "CompensateGeneration") == 4  # compensations retry too
    [letter] = dead_letters_for(stack, saga_name)
    assert letter["error"] == "AgentPermanentError"
    assert sorted(letter["left_to_undo"]) == ["Generation", "Requirements"]
    assert len(letter["left_to_undo"]["Generation"]["tests"]) == 7
    assert len(letter["left_to_undo"]["Requirements"]["scenarios"]) == 3
    # What was compensated stays compensated; what was not is still there to resume.
    assert ledger_of(stack, saga_name)["Execution"]["status"] == "COMPENSATED"
    assert len(stack.items("scenarios", saga_name)) == 3


BAD_INPUTS = {
    "missing target_url": ({"project": "p", "user_stories": ["s"]}, "request.target_url"),
    "invalid URL": ({"project": "p", "target_url": "not a url", "user_stories": ["s"]}, "request.target_url"),
    "ftp URL": (
        {"project": "p", "target_url": "ftp://example.com", "user_stories": ["s"]},
        "request.target_url",
    ),
    "empty story list": (
        {"project": "p", "target_url": "https://example.com", "user_stories": []},
        "user_stories",
    ),
    "blank story": (
        {"project": "p", "target_url": "https://example.com", "user_stories": ["  "]},
        "user_stories",
    ),
    "unknown field": (
        {"project": "p", "target_url": "https://example.com", "user_stories": ["s"], "owner": "x"},
        "request.owner",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_rejected_at_the_first_step_and_writes_nothing(stack, saga_name, case):
    bad, field = BAD_INPUTS[case]
    described, arn = run(stack, bad, saga_name)

    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidRequest"
    assert field in described["cause"]
    assert stack.state_names(arn) == ["Requirements", "InputRejected"]
    assert scheduled(stack, arn, "Requirements") == 1  # InvalidRequest is not retried
    for kind in ("scenarios", "tests", "runs", "reports", "ledger"):
        assert stack.items(kind, saga_name) == []


def test_lost_heartbeat_times_out_the_callback_step_and_rolls_back(stack, request_doc, saga_name):
    stepfunctions.TIME.factor = 0.002  # 2-minute heartbeat -> 0.24 s; 30-minute timeout -> 3.6 s
    faults = {"Execution": {"mode": "hang", "seconds": 0.6}}
    described, arn = run(stack, request_doc, saga_name, faults=faults)

    assert described["error"] == "SagaRolledBack"
    errors = [
        e["taskTimedOutEventDetails"]["error"] for e in stack.history(arn) if e["type"] == "TaskTimedOut"
    ]
    assert errors and set(errors) <= {"States.Timeout", "States.HeartbeatTimeout"}
    assert stack.state_names(arn) == expected_rollback("Execution")
    time.sleep(1.0)  # let every stalled executor wake up: the fence must refuse their writes
    assert_nothing_orphaned(stack, saga_name)


def test_task_timeout_of_a_lambda_step_rolls_back_and_fences_the_zombie(stack, request_doc, saga_name):
    stepfunctions.TIME.factor = 0.001  # Requirements' 5-minute timeout -> 0.3 s
    described, arn = run(
        stack, request_doc, saga_name, faults={"Requirements": {"mode": "hang", "seconds": 0.5}}
    )

    assert described["error"] == "SagaRolledBack"
    assert stack.state_names(arn) == expected_rollback("Requirements")
    time.sleep(1.0)  # the timed-out attempts wake up after the rollback and try to write
    assert_nothing_orphaned(stack, saga_name)


def test_starting_the_same_saga_twice_is_idempotent(stack, request_doc, saga_name):
    first = stack.start(request_doc, name=saga_name)
    second = stack.start(request_doc, name=saga_name)
    assert first == second
    stack.wait(first)
    assert len(stack.items("scenarios", saga_name)) == 3
