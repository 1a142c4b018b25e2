"""Error handling: which Catch routes an error, and what the fallback state receives."""

from __future__ import annotations

import json
from typing import Any

from tests.conformance.case import LAMBDA_FAILED, Case, Expect, Function, Where, machine, passes, task
from tests.conformance.cases import docs

AREA = "errors"
FAIL = {"Fail": Function("fail")}
PARAMETERS = {"error": "CustomError", "message": "no stock"}


def _failing(catch: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "${Fail}",
        "Parameters": PARAMETERS,
        "Catch": catch,
        "End": True,
        **fields,
    }


def _route(name: str) -> dict[str, Any]:
    return {"Type": "Pass", "Result": {"route": name}, "End": True}


def _message_is(cause: Any) -> bool:
    return json.loads(cause)["errorMessage"] == "no stock"


CAUSE = Where(_message_is, "a Lambda error cause whose errorMessage is 'no stock'")
CAUGHT = ["ExecutionStarted", *task("Work", LAMBDA_FAILED)]
UNCAUGHT = ["ExecutionStarted", *task("Work", LAMBDA_FAILED, exited=False), "ExecutionFailed"]

CASES = [
    Case(
        "catch_routes_by_error_name",
        docs.CATCH,
        machine(
            {
                "Work": _failing([{"ErrorEquals": ["CustomError"], "Next": "Handled"}]),
                "Handled": _route("Handled"),
            }
        ),
        Expect("SUCCEEDED", [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"], output={"route": "Handled"}),
        FAIL,
    ),
    Case(
        "first_matching_catcher_wins",
        docs.CATCH,
        machine(
            {
                "Work": _failing(
                    [
                        {"ErrorEquals": ["Unrelated"], "Next": "Wrong"},
                        {"ErrorEquals": ["Other", "CustomError"], "Next": "Right"},
                        {"ErrorEquals": ["States.ALL"], "Next": "Wrong"},
                    ]
                ),
                "Wrong": _route("Wrong"),
                "Right": _route("Right"),
            }
        ),
        Expect("SUCCEEDED", [*CAUGHT, *passes("Right"), "ExecutionSucceeded"], output={"route": "Right"}),
        FAIL,
    ),
    Case(
        "states_all_catches_a_custom_error",
        docs.ERROR_NAMES,
        machine(
            {"Work": _failing([{"ErrorEquals": ["States.ALL"], "Next": "Handled"}]), "Handled": _route("All")}
        ),
        Expect("SUCCEEDED", [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"], output={"route": "All"}),
        FAIL,
    ),
    Case(
        "states_task_failed_catches_a_lambda_error",
        docs.ERROR_NAMES,
        machine(
            {
                "Work": _failing([{"ErrorEquals": ["States.TaskFailed"], "Next": "Handled"}]),
                "Handled": _route("TaskFailed"),
            }
        ),
        Expect(
            "SUCCEEDED", [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"], output={"route": "TaskFailed"}
        ),
        FAIL,
    ),
    Case(
        "no_matching_catcher_fails_the_execution",
        docs.ERRORS,
        machine(
            {"Work": _failing([{"ErrorEquals": ["Unrelated"], "Next": "Handled"}]), "Handled": _route("No")}
        ),
        Expect("FAILED", UNCAUGHT, error="CustomError", cause=CAUSE),
        FAIL,
    ),
    Case(
        "empty_catch_list_fails_the_execution",
        docs.CATCH,
        machine({"Work": _failing([])}),
        Expect("FAILED", UNCAUGHT, error="CustomError", cause=CAUSE),
        FAIL,
    ),
    Case(
        "catch_result_path_keeps_the_input",
        docs.RESULT_PATH,
        machine(
            {
                "Work": _failing(
                    [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]
                ),
                "Handled": {"Type": "Pass", "End": True},
            }
        ),
        Expect(
            "SUCCEEDED",
            [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"],
            output={"order": 7, "error": {"Error": "CustomError", "Cause": CAUSE}},
        ),
        FAIL,
        input={"order": 7},
    ),
    Case(
        "catch_result_path_null_discards_the_error",
        docs.RESULT_PATH,
        machine(
            {
                "Work": _failing([{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Handled"}]),
                "Handled": {"Type": "Pass", "End": True},
            }
        ),
        Expect("SUCCEEDED", [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"], output={"order": 7}),
        FAIL,
        input={"order": 7},
    ),
    Case(
        # Without a ResultPath the catcher's output is the error output alone; the failing state's
        # own ResultPath and OutputPath apply to its result, not to its error.
        "catch_output_is_the_error_not_the_states_output_path",
        docs.CATCH,
        machine(
            {
                "Work": _failing(
                    [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                    ResultPath="$.result",
                    OutputPath="$.result",
                ),
                "Handled": {"Type": "Pass", "Parameters": {"received.$": "$"}, "End": True},
            }
        ),
        Expect(
            "SUCCEEDED",
            [*CAUGHT, *passes("Handled"), "ExecutionSucceeded"],
            output={"received": {"Error": "CustomError", "Cause": CAUSE}},
        ),
        FAIL,
        input={"order": 7},
    ),
    Case(
        "fail_state_sets_error_and_cause",
        docs.ERRORS,
        machine({"Stop": {"Type": "Fail", "Error": "OrderRejected", "Cause": "credit limit reached"}}),
        Expect(
            "FAILED",
            ["ExecutionStarted", "FailStateEntered:Stop", "ExecutionFailed"],
            error="OrderRejected",
            cause="credit limit reached",
        ),
    ),
]
