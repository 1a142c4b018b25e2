"""statemachines/saga.py: the saga declaration language and its compiler to ASL."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import Any

import pytest

from functions.common import errors
from functions.common import targets as _targets
from statemachines.catalogue import ASL_DIR, TEST_GENERATION, asl_path
from statemachines.saga import (
    COMPENSATION_FAILED,
    INPUT_REJECTED,
    INVALID_REQUEST,
    LAMBDA_SERVICE_ERRORS,
    NON_RETRYABLE,
    PERMANENT_ERROR,
    REPORT_COMPENSATION_FAILURE,
    ROLLED_BACK,
    SUCCEEDED,
    EachItem,
    RetryPolicy,
    Saga,
    Step,
    compile_saga,
    function_key,
    render,
)

pytestmark = pytest.mark.unit

FORWARD = ("Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution")
COMPENSATIONS = ("CompensateExecution", "CompensateGeneration", "CompensateRequirements")

# Where a failure at each forward step enters the compensation chain.
ROLLBACK_ENTRY = {
    "Requirements": "CompensateRequirements",
    "Generation": "CompensateGeneration",
    "Execution": "CompensateExecution",
    "Observation": "CompensateExecution",
    "Analysis": "CompensateExecution",
    "Evolution": "CompensateExecution",
}

# (MaxAttempts, IntervalSeconds, BackoffRate) of each step's own policy.
POLICIES = {
    "Requirements": (3, 1, 2.0),
    "Generation": (3, 2, 2.0),
    "Execution": (2, 5, 2.0),
    "Observation": (3, 1, 2.0),
    "Analysis": (3, 1, 2.0),
    "Evolution": (3, 1, 2.0),
}


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return compile_saga(TEST_GENERATION)


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, Any]:
    return asl["States"]


def _step(name: str, *, compensation: bool = False, **kwargs: Any) -> Step:
    module = name.lower()
    return Step(
        name=name,
        handler=f"functions.handlers.{module}.handler",
        compensation=f"functions.handlers.{module}.compensate" if compensation else None,
        timeout_seconds=kwargs.pop("timeout_seconds", 300),
        retry=kwargs.pop("retry", RetryPolicy(max_attempts=1, interval_seconds=1)),
        **kwargs,
    )


def _saga(*steps: Step) -> Saga:
    return Saga(name="custom", comment="a custom saga", steps=steps)


def _catch_all(state: dict[str, Any]) -> dict[str, Any]:
    matches = [c for c in state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
    assert len(matches) == 1, state["Catch"]
    return matches[0]


# -- forward tasks: retries ------------------------------------------------------------------


@pytest.mark.parametrize("name", FORWARD)
def test_forward_task_first_retrier_never_retries_business_errors(states: dict[str, Any], name: str) -> None:
    first = states[name]["Retry"][0]
    assert first == {
        "ErrorEquals": ["InvalidRequest", "AgentPermanentError", "TargetRefused", "TargetUnreachable"],
        "MaxAttempts": 0,
    }


@pytest.mark.parametrize("name", FORWARD)
def test_forward_task_retries_lambda_service_errors(states: dict[str, Any], name: str) -> None:
    second = states[name]["Retry"][1]
    assert second["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
    assert "Lambda.TooManyRequestsException" in second["ErrorEquals"]
    assert (second["MaxAttempts"], second["IntervalSeconds"], second["BackoffRate"]) == (3, 1, 2.0)


@pytest.mark.parametrize(("name", "policy"), POLICIES.items())
def test_forward_task_last_retrier_is_the_steps_policy(
    states: dict[str, Any], name: str, policy: tuple[int, int, float]
) -> None:
    retry = states[name]["Retry"]
    assert len(retry) == 3
    last = retry[-1]
    assert last["ErrorEquals"] == ["States.ALL"]  # States.ALL must be the last retrier
    assert (last["MaxAttempts"], last["IntervalSeconds"], last["BackoffRate"]) == policy
    assert "MaxDelaySeconds" not in last


def test_retry_policy_max_delay_is_emitted_only_when_set() -> None:
    assert RetryPolicy(2, 3, 1.5, max_delay_seconds=30).to_asl(("X",)) == {
        "ErrorEquals": ["X"],
        "IntervalSeconds": 3,
        "MaxAttempts": 2,
        "BackoffRate": 1.5,
        "MaxDelaySeconds": 30,
    }


def test_non_retryable_names_are_the_exception_class_names() -> None:
    assert errors.InvalidRequest.__name__ == INVALID_REQUEST
    assert errors.AgentPermanentError.__name__ == PERMANENT_ERROR
    assert set(NON_RETRYABLE) == {
        INVALID_REQUEST,
        PERMANENT_ERROR,
        _targets.TargetRefused.__name__,
        _targets.TargetUnreachable.__name__,
    }


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def test_every_permanent_error_subclass_is_never_retried(states: dict[str, Any]) -> None:
    subclasses = {c.__name__ for c in _all_subclasses(errors.AgentPermanentError)}
    assert "TargetRefused" in subclasses
    # Execution is where TargetRefused is raised (and reported by class name with the task token).
    never_retried = set(states["Execution"]["Retry"][0]["ErrorEquals"])
    assert subclasses <= never_retried, subclasses - never_retried


# -- forward tasks: catches ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "entry"), ROLLBACK_ENTRY.items())
def test_forward_failure_enters_the_nearest_compensation(
    states: dict[str, Any], name: str, entry: str
) -> None:
    catch = _catch_all(states[name])
    assert catch["ResultPath"] == "$.error"
    assert catch["Next"] == entry
    assert states[name]["Catch"][-1] is catch  # States.ALL must be the last catcher


def test_only_the_first_step_rejects_invalid_input(states: dict[str, Any]) -> None:
    first = states["Requirements"]["Catch"][0]
    assert first == {"ErrorEquals": ["InvalidRequest"], "ResultPath": "$.error", "Next": INPUT_REJECTED}
    for name in FORWARD[1:]:
        assert all(c["Next"] != INPUT_REJECTED for c in states[name]["Catch"]), name
    rejected = states[INPUT_REJECTED]
    assert rejected["Type"] == "Fail"
    assert rejected["Error"] == "InvalidRequest"
    assert rejected["CausePath"] == "$.error.Cause"


def test_forward_steps_chain_in_declaration_order(asl: dict[str, Any], states: dict[str, Any]) -> None:
    assert asl["StartAt"] == "Requirements"
    chain = [*FORWARD, SUCCEEDED]
    for name, nxt in itertools.pairwise(chain):
        assert states[name]["Next"] == nxt
        assert states[name]["ResultPath"] == f"$.results.{name}"
    assert states[SUCCEEDED]["Type"] == "Succeed"


@pytest.mark.parametrize("name", [n for n in FORWARD if n != "Execution"])
def test_lambda_tasks_use_a_placeholder_resource_and_the_saga_payload(
    states: dict[str, Any], name: str
) -> None:
    state = states[name]
    assert state["Resource"] == f"${{{name}FunctionArn}}"
    assert "HeartbeatSeconds" not in state
    assert state["Parameters"]["saga.$"] == "$"
    context = state["Parameters"]["context"]
    assert context["saga_id.$"] == "$$.Execution.Name"
    assert context["attempt.$"] == "$$.State.RetryCount"
    assert "task_token.$" not in context


def test_execution_is_a_callback_task(states: dict[str, Any]) -> None:
    state = states["Execution"]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["HeartbeatSeconds"] == 120
    assert state["TimeoutSeconds"] == 1800
    params = state["Parameters"]
    assert params["FunctionName"] == "${ExecutionFunctionArn}"
    assert params["InvocationType"] == "Event"
    assert params["Payload"]["context"]["task_token.$"] == "$$.Task.Token"
    assert params["Payload"]["saga.$"] == "$"


@pytest.mark.parametrize(
    ("name", "timeout"),
    [("Requirements", 300), ("Generation", 600), ("Observation", 300), ("Analysis", 300), ("Evolution", 300)],
)
def test_forward_timeouts(states: dict[str, Any], name: str, timeout: int) -> None:
    assert states[name]["TimeoutSeconds"] == timeout


# -- compensation chain ------------------------------------------------------------------------


def test_compensation_chain_runs_in_reverse_order(states: dict[str, Any]) -> None:
    chain = [*COMPENSATIONS, ROLLED_BACK]
    for name, nxt in itertools.pairwise(chain):
        assert states[name]["Next"] == nxt
    assert states[ROLLED_BACK]["Type"] == "Fail"
    assert states[ROLLED_BACK]["Error"] == "SagaRolledBack"


def test_steps_without_compensation_get_no_compensation_state(states: dict[str, Any]) -> None:
    compensations = {n for n in states if n.startswith("Compensate")}
    assert compensations == set(COMPENSATIONS)


@pytest.mark.parametrize("name", COMPENSATIONS)
def test_compensation_failure_is_reported(states: dict[str, Any], name: str) -> None:
    state = states[name]
    assert state["Resource"] == f"${{{name}FunctionArn}}"
    assert state["ResultPath"] == f"$.compensations.{name.removeprefix('Compensate')}"
    catch = state["Catch"]
    assert catch == [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.compensation_error",
            "Next": REPORT_COMPENSATION_FAILURE,
        }
    ]
    # Compensations retry everything (no non-retryable shortcut): undoing must not give up early.
    assert [r["ErrorEquals"] for r in state["Retry"]] == [list(LAMBDA_SERVICE_ERRORS), ["States.ALL"]]


def test_failure_report_ends_in_compensation_failed(states: dict[str, Any]) -> None:
    report = states[REPORT_COMPENSATION_FAILURE]
    assert report["Type"] == "Task"
    assert report["Next"] == COMPENSATION_FAILED
    assert [c["Next"] for c in report["Catch"]] == [COMPENSATION_FAILED]
    assert report["Catch"][0]["ResultPath"] == "$.report_error"  # keeps $.compensation_error intact
    assert states[COMPENSATION_FAILED]["Type"] == "Fail"


def test_every_transition_targets_an_existing_state_and_every_state_is_reachable(
    asl: dict[str, Any], states: dict[str, Any]
) -> None:
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        targets = {c["Next"] for c in state.get("Catch", [])}
        if "Next" in state:
            targets.add(state["Next"])
        assert targets <= set(states), (name, targets - set(states))
        edges[name] = targets
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(edges[current])
    assert seen == set(states)


def test_no_execution_wide_timeout_so_a_rollback_is_never_cut_short(asl: dict[str, Any]) -> None:
    # An execution timeout ends a saga without running any Catch, i.e. without compensating.
    assert "TimeoutSeconds" not in asl
    for name, state in asl["States"].items():
        if state["Type"] == "Task":
            assert state["TimeoutSeconds"] > 0, name  # every task bounds itself instead


# -- extending a saga --------------------------------------------------------------------------


def test_a_seventh_step_adds_exactly_one_state_and_rolls_back_through_execution() -> None:
    base = compile_saga(TEST_GENERATION)["States"]
    extended_saga = _saga(*TEST_GENERATION.steps, _step("Publication"))
    extended = compile_saga(extended_saga)["States"]

    assert set(extended) - set(base) == {"Publication"}
    assert set(base) <= set(extended)
    assert extended["Evolution"]["Next"] == "Publication"
    assert extended["Publication"]["Next"] == SUCCEEDED
    assert _catch_all(extended["Publication"])["Next"] == "CompensateExecution"
    assert extended["Publication"]["Retry"][-1]["MaxAttempts"] == 1
    assert extended_saga.functions()["PublicationFunctionArn"] == "functions.handlers.publication.handler"
    assert len(extended_saga.functions()) == len(TEST_GENERATION.functions()) + 1


def test_a_compensable_seventh_step_heads_the_compensation_chain() -> None:
    states = compile_saga(_saga(*TEST_GENERATION.steps, _step("Publication", compensation=True)))["States"]
    assert set(states) - set(compile_saga(TEST_GENERATION)["States"]) == {
        "Publication",
        "CompensatePublication",
    }
    assert _catch_all(states["Publication"])["Next"] == "CompensatePublication"
    assert states["CompensatePublication"]["Next"] == "CompensateExecution"
    # Earlier steps still enter the chain at their own nearest compensation.
    assert _catch_all(states["Evolution"])["Next"] == "CompensateExecution"


def test_a_step_inserted_without_compensation_routes_to_the_compensation_before_it() -> None:
    steps = list(TEST_GENERATION.steps)
    steps.insert(2, _step("Review"))  # between Generation and Execution
    states = compile_saga(_saga(*steps))["States"]
    assert states["Generation"]["Next"] == "Review"
    assert states["Review"]["Next"] == "Execution"
    assert _catch_all(states["Review"])["Next"] == "CompensateGeneration"


def test_a_failure_before_any_compensable_step_goes_straight_to_rolled_back() -> None:
    states = compile_saga(_saga(_step("Intake"), _step("Build", compensation=True)))["States"]
    assert _catch_all(states["Intake"])["Next"] == ROLLED_BACK
    assert _catch_all(states["Build"])["Next"] == "CompensateBuild"
    assert states["CompensateBuild"]["Next"] == ROLLED_BACK


def test_functions_maps_every_lambda_to_its_handler() -> None:
    assert TEST_GENERATION.functions() == {
        "RequirementsFunctionArn": "functions.handlers.requirements.handler",
        "GenerationFunctionArn": "functions.handlers.generation.handler",
        "ExecutionFunctionArn": "functions.handlers.execution.handler",
        "ObservationFunctionArn": "functions.handlers.observation.handler",
        "AnalysisFunctionArn": "functions.handlers.analysis.handler",
        "EvolutionFunctionArn": "functions.handlers.evolution.handler",
        "CompensateRequirementsFunctionArn": "functions.handlers.requirements.compensate",
        "CompensateGenerationFunctionArn": "functions.handlers.generation.compensate",
        "CompensateExecutionFunctionArn": "functions.handlers.execution.compensate",
        "ReportCompensationFailureFunctionArn": "functions.handlers.compensation_failure.handler",
    }
    assert function_key("Foo") == "FooFunctionArn"


# -- validation --------------------------------------------------------------------------------


def test_empty_saga_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        _saga()


def test_duplicate_step_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        _saga(_step("Build"), _step("Build"))


@pytest.mark.parametrize("name", ["build", "Build-Step", "Build Step", "1Build", "", "B" * 65, "Bäd"])
def test_step_names_must_be_pascal_case(name: str) -> None:
    with pytest.raises(ValueError, match="PascalCase"):
        _saga(_step("Ok"), dataclasses.replace(_step("Ok"), name=name))


@pytest.mark.parametrize("heartbeat", [300, 301])
def test_heartbeat_must_be_shorter_than_timeout(heartbeat: int) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        _saga(_step("Slow", timeout_seconds=300, heartbeat_seconds=heartbeat))


def test_valid_callback_step_is_accepted() -> None:
    saga = _saga(_step("Slow", timeout_seconds=300, heartbeat_seconds=299))
    assert saga.steps[0].is_callback
    assert compile_saga(saga)["States"]["Slow"]["HeartbeatSeconds"] == 299


@pytest.mark.parametrize(
    "name", [SUCCEEDED, ROLLED_BACK, INPUT_REJECTED, COMPENSATION_FAILED, "CompensateBuild"]
)
def test_step_names_colliding_with_generated_states_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        _saga(_step("Build", compensation=True), _step(name))


# -- the committed ASL -------------------------------------------------------------------------


def test_committed_asl_is_up_to_date() -> None:
    committed = asl_path(TEST_GENERATION)
    assert committed == ASL_DIR / "test-generation.asl.json"
    assert render(TEST_GENERATION) == committed.read_text(), "stale ASL: run `python -m statemachines`"


def test_render_is_indented_json_with_a_trailing_newline() -> None:
    text = render(TEST_GENERATION)
    assert text.endswith("}\n")
    assert json.loads(text) == compile_saga(TEST_GENERATION)


def test_every_placeholder_is_a_substitution_key() -> None:
    placeholders = set(re.findall(r"\$\{([^}]*)\}", render(TEST_GENERATION)))
    keys = set(TEST_GENERATION.functions())
    assert placeholders, "no placeholders found"
    assert placeholders <= keys, placeholders - keys
    assert keys <= placeholders, keys - placeholders  # and no function is declared but unused


@pytest.mark.parametrize(
    ("faults_path", "accepted"),
    [
        ("$.results.Gen.faults", True),
        ("$.faults", False),
        ("$.results.Check.faults", False),
        ("$.results.Before.faults", False),  # an earlier Map's: it keeps no result
    ],
)
def test_a_map_reads_its_faults_from_an_earlier_steps_result(faults_path: str, accepted: bool) -> None:
    # $.faults may be absent from the input, and a path to a missing field fails the Map with
    # States.Runtime, which no Catch catches: the compiler refuses it.
    each = EachItem(items_path="$.results.Gen.ids", faults_path=faults_path, item_state="One")
    before = EachItem(items_path="$.results.Gen.ids", faults_path="$.results.Gen.faults", item_state="Zero")
    steps = (
        _step("Gen"),
        dataclasses.replace(_step("Before"), each=before),
        dataclasses.replace(_step("Fan"), each=each),
        _step("Check"),
    )
    if accepted:
        assert _saga(*steps).steps[2].each == each
    else:
        with pytest.raises(ValueError, match="Fan: faults_path must be in an earlier step's result"):
            _saga(*steps)
