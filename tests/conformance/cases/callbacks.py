"""Callbacks (``.waitForTaskToken``): the task waits for SendTaskSuccess, SendTaskFailure or
heartbeats with its token; a worker (the case's driver) sends them once the task is submitted."""

from __future__ import annotations

from typing import Any

from tests.conformance.case import SUBMITTED, Case, Expect, Function, machine, passes, task
from tests.conformance.cases import docs
from tests.conformance.runner import Driver

AREA = "callbacks"
AGENT = {"Agent": Function("agent")}
SUCCEEDED = (*SUBMITTED, "TaskSucceeded")
FAILED = (*SUBMITTED, "TaskFailed")


def _callback(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": "${Agent}",
            "Payload": {"token.$": "$$.Task.Token", "order.$": "$.order"},
        },
        "End": True,
        **fields,
    }


def _approve(driver: Driver) -> None:
    (payload,) = driver.submitted()
    driver.succeed(payload["token"], {"approved": payload["order"]})


def _reject(driver: Driver) -> None:
    (payload,) = driver.submitted()
    driver.fail(payload["token"], error="Rejected", cause="credit check failed")


def _reject_without_error(driver: Driver) -> None:
    (payload,) = driver.submitted()
    driver.fail(payload["token"])


def _heartbeat_then_approve(driver: Driver) -> None:
    """Heartbeats a second apart, for longer in all than HeartbeatSeconds (10)."""
    (payload,) = driver.submitted()
    for _ in range(11):
        driver.sleep(1)
        driver.heartbeat(payload["token"])
    driver.succeed(payload["token"], {"approved": payload["order"]})


CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]
HANDLED = {"Type": "Pass", "End": True}

CASES = [
    Case(
        "callback_success_returns_the_output_sent",
        docs.CALLBACK,
        machine({"Approve": _callback()}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Approve", SUCCEEDED), "ExecutionSucceeded"],
            output={"approved": 7},
        ),
        AGENT,
        input={"order": 7},
        drive=_approve,
    ),
    Case(
        "callback_failure_keeps_error_and_cause",
        docs.SEND_TASK_FAILURE,
        machine({"Approve": _callback()}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Approve", FAILED, exited=False), "ExecutionFailed"],
            error="Rejected",
            cause="credit check failed",
        ),
        AGENT,
        input={"order": 7},
        drive=_reject,
    ),
    Case(
        "callback_failure_is_caught_by_name",
        docs.CALLBACK,
        machine(
            {
                "Approve": _callback(
                    Catch=[{"ErrorEquals": ["Rejected"], "ResultPath": "$.error", "Next": "Handled"}]
                ),
                "Handled": HANDLED,
            }
        ),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Approve", FAILED), *passes("Handled"), "ExecutionSucceeded"],
            output={"order": 7, "error": {"Error": "Rejected", "Cause": "credit check failed"}},
        ),
        AGENT,
        input={"order": 7},
        drive=_reject,
    ),
    Case(
        "heartbeats_keep_a_callback_alive",
        docs.TASK_TIMEOUTS,
        machine({"Approve": _callback(HeartbeatSeconds=10, TimeoutSeconds=600)}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Approve", SUCCEEDED), "ExecutionSucceeded"],
            output={"approved": 7},
        ),
        AGENT,
        input={"order": 7},
        drive=_heartbeat_then_approve,
        scale=0.5,  # at most 5 s between heartbeats; the driver sends one every 0.5 s
    ),
    Case(
        "send_task_failure_without_error_is_null",
        docs.SEND_TASK_FAILURE,
        machine({"Approve": _callback(Catch=CATCH_ALL), "Handled": HANDLED}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Approve", FAILED), *passes("Handled"), "ExecutionSucceeded"],
            output={"order": 7, "error": {"Error": None, "Cause": None}},
        ),
        AGENT,
        input={"order": 7},
        drive=_reject_without_error,
    ),
    Case(
        "send_task_failure_without_error_is_null_through_a_parallel",
        docs.SEND_TASK_FAILURE,
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [machine({"Approve": _callback()})],
                    "Catch": CATCH_ALL,
                    "End": True,
                },
                "Handled": HANDLED,
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                "ParallelStateStarted",
                *task("Approve", FAILED, exited=False),
                "TaskStateAborted",
                "ParallelStateFailed",
                "ParallelStateExited:Both",
                *passes("Handled"),
                "ExecutionSucceeded",
            ],
            output={"order": 7, "error": {"Error": None, "Cause": None}},
        ),
        AGENT,
        input={"order": 7},
        drive=_reject_without_error,
    ),
]
