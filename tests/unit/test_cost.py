"""statemachines/tools/cost.py: transitions, invocations and dollars per saga path, from the compiled ASL.

Expected counts are derived by hand from the ASL (statemachines/test-generation.asl.json):
six forward Tasks, then SagaSucceeded; a failure at step k enters the chain at the nearest
compensable step at or before k (compensable: Requirements, Generation, Execution) and walks
it to RolledBack. Every state entered is one transition, and so is every retry attempt.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from statemachines.catalogue import SAGAS, TEST_GENERATION
from statemachines.saga import (
    COMPENSATION_FAILED,
    INPUT_REJECTED,
    INVALID_REQUEST,
    PERMANENT_ERROR,
    REPORT_COMPENSATION_FAILURE,
    ROLLED_BACK,
    SUCCEEDED,
    RetryPolicy,
    Saga,
    Step,
    compile_saga,
)
from statemachines.tools import cost
from stepsaga.cli import cost as cost_command

pytestmark = pytest.mark.unit

FORWARD = ("Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution")
TRANSIENT = cost.TRANSIENT_ERROR

# Failure at step k (1-based): k forward Tasks + the compensations at or before k + RolledBack.
PERMANENT = {
    "Requirements": 3,
    "Generation": 5,
    "Execution": 7,
    "Observation": 8,
    "Analysis": 9,
    "Evolution": 10,
}
# Retries exhausted: the step's States.ALL MaxAttempts extra attempts on top of the failure path.
EXHAUSTED = {
    "Requirements": 3 + 3,
    "Generation": 5 + 3,
    "Execution": 7 + 2,
    "Observation": 8 + 3,
    "Analysis": 9 + 3,
    "Evolution": 10 + 3,
}


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return compile_saga(TEST_GENERATION)


@pytest.fixture(scope="module")
def report() -> cost.Report:
    return cost.price_saga(TEST_GENERATION)


def _saga(n: int, *, compensable: set[int], callback: int | None = None) -> Saga:
    """A generated saga of ``n`` steps; ``compensable`` and ``callback`` are 1-based."""
    steps = []
    for i in range(1, n + 1):
        steps.append(
            Step(
                name=f"Step{i}",
                handler=f"functions.handlers.step{i}.handler",
                compensation=f"functions.handlers.step{i}.compensate" if i in compensable else None,
                timeout_seconds=60,
                heartbeat_seconds=30 if i == callback else None,
                retry=RetryPolicy(max_attempts=2, interval_seconds=1),
            )
        )
    return Saga(name=f"generated-{n}", comment="generated", steps=tuple(steps))


# -- this saga's paths, exactly ----------------------------------------------------------------


def test_happy_path_is_six_tasks_and_succeeded(asl: dict[str, Any]) -> None:
    run = cost.simulate(asl)
    assert run.states == [*FORWARD, SUCCEEDED]
    assert (run.transitions, run.invocations, run.status) == (7, 6, "SUCCEEDED")


def test_bad_input_goes_straight_to_input_rejected(asl: dict[str, Any]) -> None:
    run = cost.simulate(asl, {"Requirements": [INVALID_REQUEST]})
    assert run.states == ["Requirements", INPUT_REJECTED]
    assert (run.transitions, run.invocations, run.end) == (2, 1, INPUT_REJECTED)


@pytest.mark.parametrize(("step", "expected"), PERMANENT.items())
def test_permanent_failure_rolls_back_without_retrying(asl: dict[str, Any], step: str, expected: int) -> None:
    run = cost.simulate(asl, {step: [PERMANENT_ERROR]})
    assert run.transitions == expected
    assert run.invocations == expected - 1  # every state but RolledBack invokes a Lambda
    assert (run.status, run.end) == ("FAILED", ROLLED_BACK)
    assert run.states.count(step) == 1  # AgentPermanentError is never retried


def test_failure_after_the_last_compensable_step_walks_the_whole_chain(asl: dict[str, Any]) -> None:
    run = cost.simulate(asl, {"Analysis": [PERMANENT_ERROR]})
    assert run.states == [
        *FORWARD[:5],
        "CompensateExecution",
        "CompensateGeneration",
        "CompensateRequirements",
        ROLLED_BACK,
    ]


@pytest.mark.parametrize("step", FORWARD)
def test_one_retry_costs_one_transition_and_one_invocation(asl: dict[str, Any], step: str) -> None:
    run = cost.simulate(asl, {step: [TRANSIENT]})
    assert (run.transitions, run.invocations, run.status) == (8, 7, "SUCCEEDED")
    assert run.states.count(step) == 2


@pytest.mark.parametrize(("step", "expected"), EXHAUSTED.items())
def test_retries_exhausted_then_rolled_back(asl: dict[str, Any], step: str, expected: int) -> None:
    attempts = cost.attempts_to_exhaust(asl["States"][step], TRANSIENT)
    run = cost.simulate(asl, {step: [TRANSIENT] * attempts})
    assert run.transitions == expected
    assert run.states.count(step) == attempts
    assert run.end == ROLLED_BACK


@pytest.mark.parametrize(
    ("compensation", "expected"),
    [("CompensateExecution", 12), ("CompensateGeneration", 13), ("CompensateRequirements", 14)],
)
def test_compensation_exhausting_its_retries_ends_in_compensation_failed(
    asl: dict[str, Any], compensation: str, expected: int
) -> None:
    run = cost.simulate(asl, {"Evolution": [PERMANENT_ERROR], compensation: [TRANSIENT] * 4})
    assert run.transitions == expected
    assert run.states[-2:] == [REPORT_COMPENSATION_FAILURE, COMPENSATION_FAILED]
    assert run.states.count(compensation) == 4  # 1 + MaxAttempts 3


def test_report_lists_every_path_with_its_counts(report: cost.Report) -> None:
    counts = {p.name: (p.transitions, p.lambda_invocations) for p in report.paths}
    assert counts["happy"] == (7, 6)
    assert counts["bad input"] == (2, 1)
    for index, step in enumerate(FORWARD, start=1):
        assert counts[f"fail at {step} ({index})"][0] == PERMANENT[step]
        assert counts[f"retry once at {step}"] == (8, 7)
        assert counts[f"retries exhausted at {step}"][0] == EXHAUSTED[step]
    assert counts["CompensateRequirements fails (after fail at Evolution)"] == (14, 13)
    assert len(report.paths) == 1 + 1 + 3 * 6 + 3


# -- the targets -----------------------------------------------------------------------


def test_targets_happy_at_most_steps_plus_one_and_failure_at_most_2k_plus_1(report: cost.Report) -> None:
    assert report.path("happy").transitions <= len(FORWARD) + 1 == 7
    for index, step in enumerate(FORWARD, start=1):
        path = report.path(f"fail at {step} ({index})")
        assert path.limit == 2 * index + 1
        assert path.transitions <= 2 * index + 1
    assert report.as_dict()["targets_met"] is True


# -- dollars -----------------------------------------------------------------------------------


def test_happy_path_dollars_per_million(report: cost.Report) -> None:
    happy = report.path("happy")
    assert happy.standard_usd_per_million == pytest.approx(175.0)  # 7 x $0.025/1,000 x 1e6
    # 6 requests x $0.20/M + 6 x 0.25 GB x 0.1 s x $0.0000166667 per GB-s, per million sagas
    assert happy.lambda_usd_per_million == pytest.approx(1.2 + 6 * 0.025 * 16.6667, abs=1e-3)
    assert happy.total_usd_per_million == pytest.approx(happy.standard_usd_per_million + 3.70, abs=1e-2)


def test_duration_and_memory_are_options(asl: dict[str, Any]) -> None:
    slow = cost.price(
        asl, assume=cost.Assumptions(duration_ms=1000, memory_mb=512, state_duration_ms={"Execution": 60_000})
    ).path("happy")
    # 5 x 1 s + 60 s at 0.5 GB = 32.5 GB-s per saga
    assert slow.lambda_usd_per_million == pytest.approx(1.2 + 32.5 * 16.6667, abs=1e-2)
    assert slow.duration_s == pytest.approx(65.0)


# -- generated sagas ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "compensable"), [(3, {1, 2}), (12, {1, 2, 3, 5, 8, 12})])
def test_generated_sagas_meet_the_targets(n: int, compensable: set[int]) -> None:
    saga = _saga(n, compensable=compensable, callback=2)
    report = cost.price_saga(saga)
    assert report.steps == [f"Step{i}" for i in range(1, n + 1)]
    assert report.path("happy").transitions == n + 1
    for k in range(1, n + 1):
        path = report.path(f"fail at Step{k} ({k})")
        undone = len([i for i in compensable if i <= k])
        assert path.transitions == k + undone + 1
        assert path.transitions <= 2 * k + 1
        # the samples' design: entry Pass + one state per step (Task or no-op Pass)
        assert path.sample_transitions == 2 * k + 2
    assert report.path("retry once at Step1").transitions == n + 2
    assert report.path(f"retries exhausted at Step{n}").transitions == n + 2 + len(compensable) + 1


def test_generated_saga_without_compensations_fails_straight_to_rolled_back() -> None:
    asl = compile_saga(_saga(3, compensable=set()))
    run = cost.simulate(asl, {"Step2": [PERMANENT_ERROR]})
    assert run.states == ["Step1", "Step2", ROLLED_BACK]
    assert [s.kind for s in cost.scenarios(asl)].count("compensation-failed") == 0


@pytest.mark.parametrize("name", sorted(SAGAS))
def test_every_declared_saga_can_be_priced(name: str) -> None:
    report = cost.price_saga(SAGAS[name], cost.Assumptions(map_items=3))
    assert report.path("happy").status == "SUCCEEDED"
    assert all(p.status == "FAILED" for p in report.paths if p.kind != "happy" and p.kind != "retry")


# -- the simulator, generically ----------------------------------------------------------------


def test_a_retry_counts_as_a_transition() -> None:
    asl = compile_saga(_saga(1, compensable=set()))
    run = cost.simulate(asl, {"Step1": [TRANSIENT]})
    assert [(e.state, e.attempt) for e in run.entries] == [("Step1", 0), ("Step1", 1), (SUCCEEDED, 0)]
    assert (run.transitions, run.invocations) == (3, 2)
    assert run.wait_seconds == 1.0  # IntervalSeconds 1 before the first retry


def test_retry_back_off_accumulates_and_is_capped() -> None:
    state = {"Type": "Task", "Resource": "${XFunctionArn}", "End": True}
    state["Retry"] = [
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 4, "IntervalSeconds": 2, "MaxDelaySeconds": 5}
    ]
    run = cost.simulate({"StartAt": "X", "States": {"X": state}}, {"X": ["E"] * 4})
    assert run.wait_seconds == 2 + 4 + 5 + 5
    assert run.status == "SUCCEEDED"


def test_uncaught_error_fails_the_execution_at_the_task() -> None:
    asl = {
        "StartAt": "X",
        "States": {"X": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}},
    }
    run = cost.simulate(asl, {"X": ["Boom"]})
    assert (run.status, run.end, run.error, run.invocations) == ("FAILED", "X", "Boom", 0)


def test_pass_wait_and_choice_are_walked() -> None:
    asl = {
        "StartAt": "Decide",
        "States": {
            "Decide": {"Type": "Choice", "Choices": [], "Default": "Hold"},
            "Hold": {"Type": "Wait", "Seconds": 7, "Next": "Shape"},
            "Shape": {"Type": "Pass", "Next": "Call"},
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Other"},
            "Other": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": True},
        },
    }
    run = cost.simulate(asl)
    assert run.states == ["Decide", "Hold", "Shape", "Call", "Other"]
    assert (run.transitions, run.invocations, run.wait_seconds) == (5, 2, 7.0)
    assert cost.simulate(asl, choices={"Decide": "Other"}).states == ["Decide", "Other"]


def test_map_iterations_and_parallel_branches_count_their_transitions() -> None:
    item = {
        "StartAt": "One",
        "States": {"One": {"Type": "Task", "Resource": "${OneFunctionArn}", "End": True}},
    }
    asl = {
        "StartAt": "Each",
        "States": {
            "Each": {"Type": "Map", "ItemProcessor": item, "Next": "Both"},
            "Both": {"Type": "Parallel", "Branches": [item, item], "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    run = cost.simulate(asl, items=4)
    assert run.states == ["Each", "Both", "Done"]
    assert (run.transitions, run.nested_transitions, run.invocations) == (3 + 4 + 2, 6, 6)
    failed = cost.simulate(asl, {"One": ["Boom"]}, items=4)  # the first item fails, uncaught
    assert (failed.status, failed.end, failed.error) == ("FAILED", "Each", "Boom")


def test_unknown_state_type_is_refused() -> None:
    with pytest.raises(cost.UnsupportedState):
        cost.simulate({"StartAt": "X", "States": {"X": {"Type": "Teleport", "End": True}}})


# -- Express -----------------------------------------------------------------------------------


def test_this_saga_cannot_run_as_express(report: cost.Report) -> None:
    assert not report.express_eligible
    assert any("waitForTaskToken" in reason for reason in report.express_reasons)
    assert any("300 s" in reason for reason in report.express_reasons)
    assert all(p.express_usd_per_million is None for p in report.paths)
    assert "Express: not eligible (" in cost.render_text(report)


def test_a_short_saga_without_callbacks_is_express_eligible() -> None:
    asl = compile_saga(_saga(2, compensable={1}))
    reasons = cost.express_ineligibility(asl)
    assert reasons and all("waitForTaskToken" not in r for r in reasons)  # the compiled timeout is long
    asl["TimeoutSeconds"] = 240
    assert cost.express_ineligibility(asl) == []
    happy = cost.price(asl).path("happy")
    # $1.00/M requests + 64 MB x 0.2 s (2 invocations of 100 ms) x $0.00001667/GB-s, per million
    assert happy.express_usd_per_million == pytest.approx(1.0 + 0.0625 * 0.2 * 16.67, abs=1e-4)
    assert "Express $/M" in cost.render_markdown(cost.price(asl))


def test_express_rounds_duration_up_to_100_ms_and_memory_to_64_mb() -> None:
    assume = cost.Assumptions(express_memory_mb=100)  # billed as 128 MB
    assert cost.express_usd(0.101, assume) == pytest.approx(1e-6 + 0.125 * 0.2 * 0.00001667)


# -- the samples' design -----------------------------------------------------------------------


def test_sample_design_is_well_formed_and_costs_more_on_failure() -> None:
    sample = cost.sample_design(TEST_GENERATION)
    states = sample["States"]
    for name, state in states.items():
        targets = [state.get("Next"), *(c["Next"] for c in state.get("Catch", []))]
        assert all(t in states for t in targets if t), name
    assert states["CompensateObservation"]["Type"] == "Pass"  # no-op: Observation undoes nothing
    assert states["Analysis"]["Catch"][-1]["Next"] == "AnalysisFailed"
    assert states["Requirements"]["Catch"][0]["Next"] == INPUT_REJECTED
    assert cost.simulate(sample).transitions == 7
    run = cost.simulate(sample, {"Analysis": [PERMANENT_ERROR]})
    assert run.states == [
        *FORWARD[:5],
        "AnalysisFailed",
        "CompensateAnalysis",
        "CompensateObservation",
        "CompensateExecution",
        "CompensateGeneration",
        "CompensateRequirements",
        ROLLED_BACK,
    ]
    assert run.invocations == 5 + 3  # the no-op Passes invoke nothing


# -- the command -------------------------------------------------------------------------------


def test_cli_text_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost_command.main(["--check"]) == 0
    text = capsys.readouterr().out
    assert "happy" in text and "samples' design" in text and "Express: not eligible" in text

    assert cost_command.main(["--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| path | transitions | Lambda invocations |" in markdown
    assert "| happy | 7 | 6 | 175.00 |" in markdown

    assert cost_command.main(["--json", "--duration-ms", "200", "--state-duration-ms", "Execution=1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["express"]["eligible"] is False
    assert data["assumptions"]["state_duration_ms"] == {"Execution": 1000.0}
    happy = next(p for p in data["paths"] if p["name"] == "happy")
    assert (happy["transitions"], happy["lambda_invocations"], happy["sample_transitions"]) == (7, 6, 7)


def test_cli_rejects_a_malformed_state_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cost_command.main(["--state-duration-ms", "Execution"])
    assert "STATE=MS" in capsys.readouterr().err
