"""Map and Parallel: results in item and branch order, Catch and Retry on the Map or Parallel,
MaxConcurrency, tolerated-failure validation, and what happens to the siblings of a failed iteration
or branch (AWS aborts them: TaskStateAborted, MapIterationAborted)."""

from __future__ import annotations

from typing import Any

from tests.conformance.case import (
    LAMBDA_OK,
    SUBMITTED,
    Case,
    Expect,
    Function,
    Unordered,
    machine,
    passes,
    task,
)
from tests.conformance.cases import docs
from tests.conformance.runner import Driver

AREA = "map_parallel"
ECHO = {"Echo": Function("echo")}
AGENT = {"Agent": Function("agent")}


def _map(processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An inline Map over ``$.items``; the last state unless ``fields`` give it a ``Next``."""
    return {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **processor},
        **({} if "Next" in fields else {"End": True}),
        **fields,
    }


def _echo_iteration() -> list[str]:
    return ["MapIterationStarted", *task("Work", LAMBDA_OK), "MapIterationSucceeded"]


REJECT = {"Reject": {"Type": "Fail", "Error": "ItemRejected", "Cause": "the item is invalid"}}
BRANCH_FAIL = {"Reject": {"Type": "Fail", "Error": "BranchRejected", "Cause": "the branch is invalid"}}
HANDLED = {"Type": "Pass", "Parameters": {"caught.$": "$.Error"}, "End": True}


def _callback(name: str, **identity: str) -> dict[str, Any]:
    """A callback task named ``name`` whose payload says which item or branch it is (``id``)."""
    return {
        name: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "${Agent}", "Payload": {"token.$": "$$.Task.Token", **identity}},
            "TimeoutSeconds": 20,  # the sibling nobody answers: aborted on AWS long before this
            "End": True,
        }
    }


def _fail_the_first(driver: Driver) -> None:
    """Both callbacks are waiting: fail item/branch "a"; "b" is never answered."""
    payloads = driver.submitted(2)
    token = next(p["token"] for p in payloads if p["id"] == "a")
    driver.fail(token, error="ItemFailed", cause="a failed")


CASES = [
    Case(
        "map_runs_items_in_order_with_max_concurrency_one",
        docs.MAP,
        machine(
            {
                "Items": _map(
                    machine({"Work": {"Type": "Task", "Resource": "${Echo}", "End": True}}), MaxConcurrency=1
                )
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                *_echo_iteration() * 3,
                "MapStateSucceeded",
                "MapStateExited:Items",
                "ExecutionSucceeded",
            ],
            output=[{"n": 1}, {"n": 2}, {"n": 3}],
        ),
        ECHO,
        input={"items": [{"n": 1}, {"n": 2}, {"n": 3}]},
    ),
    Case(
        "map_concurrent_iterations_keep_item_order",
        docs.MAP,
        machine({"Items": _map(machine({"Work": {"Type": "Task", "Resource": "${Echo}", "End": True}}))}),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                Unordered(*_echo_iteration() * 4),
                "MapStateSucceeded",
                "MapStateExited:Items",
                "ExecutionSucceeded",
            ],
            output=[1, 2, 3, 4],
        ),
        ECHO,
        input={"items": [1, 2, 3, 4]},
    ),
    Case(
        "map_item_selector_sees_index_and_value",
        docs.MAP,
        machine(
            {
                "Items": _map(
                    machine({"Keep": {"Type": "Pass", "End": True}}),
                    MaxConcurrency=1,
                    ItemSelector={
                        "index.$": "$$.Map.Item.Index",
                        "value.$": "$$.Map.Item.Value",
                        "batch.$": "$.batch",
                    },
                )
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                *["MapIterationStarted", *passes("Keep"), "MapIterationSucceeded"] * 2,
                "MapStateSucceeded",
                "MapStateExited:Items",
                "ExecutionSucceeded",
            ],
            output=[{"index": 0, "value": "a", "batch": 9}, {"index": 1, "value": "b", "batch": 9}],
        ),
        input={"items": ["a", "b"], "batch": 9},
    ),
    Case(
        "map_over_no_items_succeeds_with_an_empty_list",
        docs.MAP,
        machine({"Items": _map(machine({"Work": {"Type": "Task", "Resource": "${Echo}", "End": True}}))}),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                "MapStateSucceeded",
                "MapStateExited:Items",
                "ExecutionSucceeded",
            ],
            output=[],
        ),
        ECHO,
        input={"items": []},
    ),
    Case(
        "map_catch_routes_a_failed_iteration",
        docs.MAP,
        machine(
            {
                "Items": _map(
                    machine(REJECT),
                    Catch=[{"ErrorEquals": ["ItemRejected"], "Next": "Handled"}],
                    Next="Handled",
                ),
                "Handled": HANDLED,
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                "MapIterationStarted",
                "FailStateEntered:Reject",
                "MapIterationFailed",
                "MapStateFailed",
                "MapStateExited:Items",
                *passes("Handled"),
                "ExecutionSucceeded",
            ],
            output={"caught": "ItemRejected"},
        ),
        input={"items": [1]},
    ),
    Case(
        "map_retry_reruns_the_whole_map",
        docs.MAP,
        machine(
            {
                "Items": _map(
                    machine(REJECT),
                    Retry=[{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                )
            }
        ),
        Expect(
            "FAILED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                *["MapStateStarted", "MapIterationStarted", "FailStateEntered:Reject", "MapIterationFailed"]
                * 3,
                "MapStateFailed",
                "ExecutionFailed",
            ],
            error="ItemRejected",
            cause="the item is invalid",
        ),
        input={"items": [1]},
    ),
    Case(
        "map_tolerated_failure_percentage_out_of_range_is_states_runtime",
        docs.MAP,
        machine(
            {
                "Items": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        **machine({"Keep": {"Type": "Pass", "End": True}}),
                    },
                    "ToleratedFailurePercentagePath": "$.tolerated",
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            ["ExecutionStarted", "MapStateEntered:Items", "MapStateStarted", "ExecutionFailed"],
            error="States.Runtime",
            cause="An error occurred while executing the state 'Items' (entered at the event id #2). "
            "ToleratedFailurePercentage must be between 0 and 100.",
        ),
        input={"items": [0], "tolerated": 100.5},
    ),
    Case(
        "map_failed_iteration_aborts_its_siblings",
        docs.MAP,
        machine({"Items": _map(machine(_callback("Work", **{"id.$": "$.id"})))}),
        Expect(
            "FAILED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                Unordered(*["MapIterationStarted", "TaskStateEntered:Work", *SUBMITTED] * 2),
                "TaskFailed",
                "MapIterationFailed",
                Unordered("TaskStateAborted", "TaskStateAborted", "MapIterationAborted"),
                "MapStateFailed",
                "ExecutionFailed",
            ],
            error="ItemFailed",
            cause="a failed",
        ),
        AGENT,
        input={"items": [{"id": "a"}, {"id": "b"}]},
        drive=_fail_the_first,
        scale=0.5,
    ),
    Case(
        "parallel_outputs_branch_results_in_branch_order",
        docs.PARALLEL,
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        machine({"First": {"Type": "Pass", "Result": "first", "End": True}}),
                        machine({"Second": {"Type": "Pass", "Result": "second", "End": True}}),
                    ],
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                "ParallelStateStarted",
                Unordered(*passes("First", "Second")),
                "ParallelStateSucceeded",
                "ParallelStateExited:Both",
                "ExecutionSucceeded",
            ],
            output=["first", "second"],
        ),
    ),
    Case(
        "parallel_catch_routes_a_failed_branch",
        docs.PARALLEL,
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [machine(BRANCH_FAIL)],
                    "Catch": [{"ErrorEquals": ["BranchRejected"], "Next": "Handled"}],
                    "Next": "Handled",
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
                "FailStateEntered:Reject",
                "ParallelStateFailed",
                "ParallelStateExited:Both",
                *passes("Handled"),
                "ExecutionSucceeded",
            ],
            output={"caught": "BranchRejected"},
        ),
    ),
    Case(
        "parallel_retry_reruns_every_branch",
        docs.PARALLEL,
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [machine(BRANCH_FAIL)],
                    "Retry": [{"ErrorEquals": ["BranchRejected"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                *["ParallelStateStarted", "FailStateEntered:Reject"] * 3,
                "ParallelStateFailed",
                "ExecutionFailed",
            ],
            error="BranchRejected",
            cause="the branch is invalid",
        ),
    ),
    Case(
        "parallel_failed_branch_aborts_its_sibling",
        docs.PARALLEL,
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [machine(_callback("WaitA", id="a")), machine(_callback("WaitB", id="b"))],
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            [
                "ExecutionStarted",
                "ParallelStateEntered:Both",
                "ParallelStateStarted",
                Unordered("TaskStateEntered:WaitA", "TaskStateEntered:WaitB", *SUBMITTED, *SUBMITTED),
                "TaskFailed",
                Unordered("TaskStateAborted", "TaskStateAborted"),
                "ParallelStateFailed",
                "ExecutionFailed",
            ],
            error="ItemFailed",
            cause="a failed",
        ),
        AGENT,
        drive=_fail_the_first,
        scale=0.5,
    ),
]
