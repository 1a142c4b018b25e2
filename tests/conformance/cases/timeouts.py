"""Timeouts: a task's TimeoutSeconds and HeartbeatSeconds, an execution's TimeoutSeconds, and a
timeout inside a Map or Parallel, which reaches the Map or Parallel as ``States.Timeout``.

AWS names every task timeout ``States.Timeout`` (heartbeat ones too) and ``States.TaskFailed`` does
not match it. On the embedded stack the cases run with their timeouts scaled (``scale``).
"""

from __future__ import annotations

from typing import Any

from tests.conformance.case import (
    INVOKE_TIMED_OUT,
    LAMBDA_TIMED_OUT,
    SUBMITTED,
    Case,
    Expect,
    Function,
    machine,
    passes,
    task,
)
from tests.conformance.cases import docs
from tests.conformance.runner import Driver

AREA = "timeouts"
SCALE = 0.5  # 4 s -> 2 s on the embedded stack: long enough for the invoke to return first
AGENT = {"Agent": Function("agent")}
SLEEPER = {"Sleeper": Function("sleep")}
TIMED_OUT = (*SUBMITTED, "TaskTimedOut")


def _callback(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "${Agent}", "Payload": {"token.$": "$$.Task.Token"}},
        "End": True,
        **fields,
    }


def _invoke_sleeping(seconds: float, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${Sleeper}", "Payload": {"seconds": seconds}},
        "End": True,
        **fields,
    }


HANDLED = {"Type": "Pass", "Parameters": {"caught.$": "$.error.Error"}, "End": True}


def _with_catch(state: dict[str, Any]) -> dict[str, Any]:
    caught = {key: value for key, value in state.items() if key != "End"}
    caught["Catch"] = [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Handled"}]
    caught["Next"] = "Done"
    return caught


def _in_map(processor_state: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Work",
            "States": {"Work": processor_state},
        },
        "End": True,
    }


def _in_parallel(branch_state: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Parallel", "Branches": [machine({"Work": branch_state})], "End": True}


def _second_attempt_succeeds(driver: Driver) -> None:
    payloads = driver.submitted(2)
    driver.succeed(payloads[1]["token"], {"attempt": 2})


CAUGHT_END = [*passes("Handled"), "ExecutionSucceeded"]
DONE = {"Type": "Succeed"}


def _map_timeout_caught(
    name: str, work: dict[str, Any], attempt: tuple[str, ...], functions: dict[str, Function]
) -> Case:
    return Case(
        name,
        docs.ERROR_NAMES,
        machine({"Items": _with_catch(_in_map(work)), "Handled": HANDLED, "Done": DONE}),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                "MapIterationStarted",
                "TaskStateEntered:Work",
                *attempt,
                "MapIterationFailed",
                "TaskStateAborted",
                "MapStateFailed",
                "MapStateExited:Items",
                *CAUGHT_END,
            ],
            output={"caught": "States.Timeout"},
        ),
        functions,
        input={"items": [1]},
        scale=SCALE,
    )


CASES = [
    Case(
        "lambda_timeout_seconds_is_states_timeout",
        docs.TASK_TIMEOUTS,
        machine(
            {
                "Work": {
                    "Type": "Task",
                    "Resource": "${Sleeper}",
                    "Parameters": {"seconds": 12},
                    "TimeoutSeconds": 4,
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", LAMBDA_TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        SLEEPER,
        scale=SCALE,
    ),
    Case(
        "lambda_invoke_timeout_seconds_is_states_timeout",
        docs.TASK_TIMEOUTS,
        machine({"Work": _invoke_sleeping(12, TimeoutSeconds=4)}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", INVOKE_TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        SLEEPER,
        scale=SCALE,
    ),
    Case(
        # The function returns (2 s) after its task timed out: on AWS the history ended with the
        # execution; nothing the late result does is recorded.
        "timed_out_lambda_records_nothing_after_the_execution_ended",
        docs.HISTORY_EVENT,
        machine(
            {
                "Work": {
                    "Type": "Task",
                    "Resource": "${Sleeper}",
                    "Parameters": {"seconds": 3},
                    "TimeoutSeconds": 2,
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", LAMBDA_TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        SLEEPER,
        scale=SCALE,
        settle=4,
    ),
    Case(
        "timed_out_lambda_invoke_records_nothing_after_the_execution_ended",
        docs.HISTORY_EVENT,
        machine({"Work": _invoke_sleeping(3, TimeoutSeconds=2)}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", INVOKE_TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        SLEEPER,
        scale=SCALE,
        settle=4,
    ),
    Case(
        "callback_timeout_seconds_is_states_timeout",
        docs.TASK_TIMEOUTS,
        machine({"Work": _callback(TimeoutSeconds=4)}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        AGENT,
        scale=SCALE,
    ),
    Case(
        "heartbeat_timeout_is_states_timeout",
        docs.TASK_TIMEOUTS,
        machine({"Work": _callback(HeartbeatSeconds=4, TimeoutSeconds=600)}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        AGENT,
        scale=SCALE,
    ),
    Case(
        "timeout_seconds_path_is_read_from_the_input",
        docs.TASK_TIMEOUTS,
        machine({"Work": _callback(TimeoutSecondsPath="$.timeout")}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        AGENT,
        input={"timeout": 4},
        scale=SCALE,
    ),
    Case(
        "task_timeout_caught_by_states_timeout",
        docs.ERROR_NAMES,
        machine({"Work": _with_catch(_callback(TimeoutSeconds=4)), "Handled": HANDLED, "Done": DONE}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", TIMED_OUT), *CAUGHT_END],
            output={"caught": "States.Timeout"},
        ),
        AGENT,
        scale=SCALE,
    ),
    Case(
        "states_task_failed_does_not_match_a_timeout",
        docs.ERROR_NAMES,
        machine(
            {
                "Work": _callback(
                    TimeoutSeconds=4, Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "Handled"}]
                ),
                "Handled": HANDLED,
            }
        ),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", TIMED_OUT, exited=False), "ExecutionFailed"],
            error="States.Timeout",
        ),
        AGENT,
        scale=SCALE,
    ),
    Case(
        "task_timeout_retried_by_states_timeout",
        docs.RETRY,
        machine(
            {
                "Work": _callback(
                    TimeoutSeconds=4,
                    Retry=[{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                )
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                *task("Work", TIMED_OUT, (*SUBMITTED, "TaskSucceeded")),
                "ExecutionSucceeded",
            ],
            output={"attempt": 2},
        ),
        AGENT,
        drive=_second_attempt_succeeds,
        # Unscaled: the driver answers the second attempt only after seeing it submitted, and
        # with every case starting at once on two cores 2 s was sometimes not enough (CI flake).
        scale=1.0,
    ),
    Case(
        "execution_timeout_seconds_fires_during_a_wait",
        docs.STRUCTURE,
        machine({"Pause": {"Type": "Wait", "Seconds": 60, "End": True}}, TimeoutSeconds=4),
        Expect("TIMED_OUT", ["ExecutionStarted", "WaitStateEntered:Pause", "ExecutionTimedOut"]),
    ),
    _map_timeout_caught(
        "map_callback_timeout_caught_on_the_map", _callback(TimeoutSeconds=4), TIMED_OUT, AGENT
    ),
    _map_timeout_caught(
        "map_heartbeat_timeout_caught_on_the_map",
        _callback(HeartbeatSeconds=4, TimeoutSeconds=600),
        TIMED_OUT,
        AGENT,
    ),
    _map_timeout_caught(
        "map_lambda_timeout_caught_on_the_map",
        _invoke_sleeping(12, TimeoutSeconds=4),
        INVOKE_TIMED_OUT,
        SLEEPER,
    ),
    Case(
        "parallel_callback_timeout_caught_on_the_parallel",
        docs.ERROR_NAMES,
        machine(
            {"Both": _with_catch(_in_parallel(_callback(TimeoutSeconds=4))), "Handled": HANDLED, "Done": DONE}
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                "ParallelStateStarted",
                *task("Work", TIMED_OUT, exited=False),
                "TaskStateAborted",
                "ParallelStateFailed",
                "ParallelStateExited:Both",
                *CAUGHT_END,
            ],
            output={"caught": "States.Timeout"},
        ),
        AGENT,
        scale=SCALE,
    ),
    Case(
        "parallel_timeout_retried_on_the_parallel",
        docs.RETRY,
        machine(
            {
                "Both": {
                    **_in_parallel(_callback(TimeoutSeconds=4)),
                    "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                }
            }
        ),
        Expect(
            "FAILED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                "ParallelStateStarted",
                *task("Work", TIMED_OUT, exited=False),
                "TaskStateAborted",
                "ParallelStateStarted",
                *task("Work", TIMED_OUT, exited=False),
                "TaskStateAborted",
                "ParallelStateFailed",
                "ExecutionFailed",
            ],
            error="States.Timeout",
        ),
        AGENT,
        scale=SCALE,
    ),
]
