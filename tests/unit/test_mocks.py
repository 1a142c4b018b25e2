"""statemachines/tools/mocks.py: one mocked case per path of every machine, from the declarations.

The LocalStack tier (tests/localstack) runs these cases; here, without any engine, what they
hold: every machine and every cost path covered (or named unreachable, with the reason), the
parent's routes, responses matching the expected attempts, the SFN_MOCK_CONFIG format, and
reading a history back.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from statemachines.catalogue import MULTI_PROJECT, PARENTS, SAGAS, TEST_GENERATION, machines
from statemachines.parent import compile_parent
from statemachines.saga import PERMANENT_ERROR, compile_saga
from statemachines.tools import cost, mocks

pytestmark = pytest.mark.unit

PLAN = mocks.plan(SAGAS.values(), PARENTS.values())


def _case(machine: str, name: str) -> mocks.MockCase:
    return next(c for c in PLAN.cases if (c.machine, c.name) == (machine, name))


def test_every_generated_machine_has_cases_with_unique_names() -> None:
    assert set(PLAN.machines()) == set(machines())
    names = Counter((c.machine, c.name) for c in PLAN.cases)
    assert max(names.values()) == 1


@pytest.mark.parametrize("saga", SAGAS.values(), ids=lambda s: s.name)
def test_every_cost_path_of_a_saga_is_a_case_or_named_unreachable(saga) -> None:
    asl = compile_saga(saga)
    cases = {c.path: c for c in PLAN.cases if c.machine == saga.name}
    unreachable = {u.path: u.reason for u in PLAN.unreachable if u.machine == saga.name}
    runs = {tuple(c.states) for c in cases.values()}
    for scenario in cost.scenarios(asl):
        if scenario.name in unreachable:
            assert asl["States"][scenario.step]["Type"] == "Map", unreachable[scenario.name]
            continue
        # A path two scenarios share is one case (under the first scenario's name).
        assert tuple(cost.simulate(asl, scenario.errors).states) in runs, scenario.name


def test_only_a_whole_map_failing_is_unreachable() -> None:
    assert {(u.machine, u.path) for u in PLAN.unreachable} == {
        ("parallel-test-generation", "fail at Execution (3)"),
        ("multi-project", "fail at RunProjectSagas (1)"),
    }


def test_a_case_answers_each_attempt_the_path_makes() -> None:
    case = _case("test-generation", "RetriesExhaustedAtGeneration")
    generation = case.responses["Generation"]
    assert [r.error for r in generation] == [cost.TRANSIENT_ERROR] * 4
    assert case.states.count("Generation") == 4
    assert case.attempts == sum(len(answers) for answers in case.responses.values())
    assert "Execution" not in case.responses  # never reached: no response, so a call would fail
    assert case.states[-3:] == ("CompensateGeneration", "CompensateRequirements", "RolledBack")
    assert (case.status, case.error) == ("FAILED", "SagaRolledBack")


def test_a_map_gets_its_items_from_the_task_that_produces_them() -> None:
    case = _case("parallel-test-generation", "AnItemFailsAtExecuteTest")
    assert case.responses["Generation"][0].result == {"test_ids": ["item-1"], "faults": {}}
    assert [r.error for r in case.responses["ExecuteTest"]] == [PERMANENT_ERROR]
    assert case.nested == {"ExecuteTest": 1, "ExecuteTestFailed": 1}
    assert case.status == "SUCCEEDED"  # the mocked policy tolerates it


@pytest.mark.parametrize(
    ("name", "compensated", "end"),
    [
        ("TheOnlyProjectFailsNoneToCompensate", 0, "RolledBack"),
        ("AProjectFailsOneCompensated", 1, "RolledBack"),
        ("AProjectFailsTwoCompensated", 2, "RolledBack"),
        ("AProjectFailsAndARollbackFails", 2, "CompensationFailed"),
    ],
)
def test_the_parent_is_run_with_none_one_and_two_projects_to_compensate(name, compensated, end) -> None:
    case = _case(MULTI_PROJECT.name, name)
    summary = case.responses["SummariseProjects"][0].result
    assert len(summary["to_compensate"]) == compensated
    assert case.nested.get("CompensateProjectSaga", 0) == compensated
    assert case.states[-4:] == ("CompensateProjectSagas", "AllRollbacksDone", "AnyRollbackFailed", end)
    assert len(case.input["projects"]) == case.nested["RunProjectSaga"]


def test_the_parent_reads_outcomes_without_a_projection_localstack_collapses() -> None:
    done = compile_parent(MULTI_PROJECT)["States"]["AllRollbacksDone"]
    assert "[*]" not in json.dumps(done)


def test_the_localstack_config_wraps_only_what_a_function_resource_returns() -> None:
    config = mocks.localstack_config(PLAN.cases)
    tests = config["StateMachines"]["test-generation"]["TestCases"]["RetryOnceAtExecution"]
    responses = config["MockedResponses"]
    # Requirements names its function: Step Functions passes on the invocation's Payload.
    assert responses[tests["Requirements"]] == {"0": {"Return": {"StatusCode": 200, "Payload": {}}}}
    # Execution is a .waitForTaskToken callback: the mock answers what SendTaskSuccess would.
    execution = responses[tests["Execution"]]
    assert execution["0"]["Throw"]["Error"] == cost.TRANSIENT_ERROR
    assert execution["1"] == {"Return": {}}
    child = responses[config["StateMachines"]["multi-project"]["TestCases"]["Happy"]["RunProjectSaga"]]
    assert child["0"]["Return"]["Status"] == "SUCCEEDED"  # what DescribeExecution answers
    assert json.loads(json.dumps(config)) == config


def test_cases_are_engine_neutral_documents() -> None:
    case = _case("test-generation", "BadInput")
    document = json.loads(json.dumps(case.as_dict()))
    assert document["responses"]["Requirements"]["attempts"] == [
        {"Throw": {"Error": "InvalidRequest", "Cause": "mocked InvalidRequest"}}
    ]
    assert document["responses"]["Requirements"]["resource"] == "${RequirementsFunctionArn}"
    assert document["expected"] == {
        "states": ["Requirements", "InputRejected"],
        "nested": {},
        "attempts": 1,
        "status": "FAILED",
        "error": "InvalidRequest",
    }


def test_observe_counts_each_retry_as_an_entry_and_map_states_apart() -> None:
    asl = compile_saga(SAGAS["parallel-test-generation"])

    def entered(name: str) -> dict:
        return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}

    def exited(name: str) -> dict:
        return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}

    events = [
        {"type": "ExecutionStarted"},
        entered("Requirements"),
        {"type": "LambdaFunctionScheduled"},
        {"type": "TaskFailed"},
        {"type": "LambdaFunctionScheduled"},
        exited("Requirements"),
        entered("Execution"),
        entered("ExecuteTest"),
        {"type": "LambdaFunctionScheduled"},
        {"type": "LambdaFunctionScheduled"},
        exited("ExecuteTest"),
        exited("Execution"),
    ]
    observed = mocks.observe(events, asl)
    assert observed.states == ("Requirements", "Requirements", "Execution")
    assert observed.nested == {"ExecuteTest": 1}
    assert observed.attempts == 4


def test_a_case_name_is_the_path_label_in_pascal_case() -> None:
    assert mocks.case_name("fail at Generation (2)") == "FailAtGeneration2"
    assert mocks.case_name(f"{TEST_GENERATION.steps[0].name} fails") == "RequirementsFails"
