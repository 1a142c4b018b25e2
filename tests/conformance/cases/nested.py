"""Nested executions: ``states:startExecution`` with ``.sync`` (the child's input and output as JSON
text) and ``.sync:2`` (as JSON), the child's failure in the parent, and the ``.sync`` task's own
``$$.Task.Token`` (SendTaskSuccess with it completes the parent's task early)."""

from __future__ import annotations

from typing import Any

from tests.conformance.case import (
    ANY_VALUE,
    EPOCH_MILLIS,
    INVOKE_OK,
    SUBMITTED,
    UUID,
    Case,
    Expect,
    Function,
    Json,
    Regex,
    machine,
    task,
)
from tests.conformance.cases import docs

AREA = "nested"
CHILD = {"Child": machine({"Finish": {"Type": "Pass", "Parameters": {"done.$": "$.n"}, "End": True}})}
FAILING_CHILD = {"Child": machine({"Reject": {"Type": "Fail", "Error": "ChildError", "Cause": "bad child"}})}
EXECUTION_ARN = Regex(r"arn:aws:states:[^:]+:\d{12}:execution:[^:]+:[^:]+")
MACHINE_ARN = Regex(r"arn:aws:states:[^:]+:\d{12}:stateMachine:[^:]+")
SYNC_OK = ["ExecutionStarted", *task("Child", (*SUBMITTED, "TaskSucceeded")), "ExecutionSucceeded"]
SELECTED = {
    "Input.$": "$.Input",
    "InputDetails.$": "$.InputDetails",
    "Output.$": "$.Output",
    "OutputDetails.$": "$.OutputDetails",
    "Status.$": "$.Status",
}


def _start(resource: str, **fields: Any) -> dict[str, Any]:
    """Start the case's child, named after the parent's execution (unique per state machine)."""
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::states:{resource}",
        "Parameters": {"StateMachineArn": "${Child}", "Input": {"n": 1}, "Name.$": "$$.Execution.Name"},
        "End": True,
        **fields,
    }


CASES = [
    Case(
        "sync_result_holds_the_child_input_and_output_as_text",
        docs.NESTED,
        machine({"Child": _start("startExecution.sync", ResultSelector=SELECTED)}),
        Expect(
            "SUCCEEDED",
            SYNC_OK,
            output={
                "Input": Json({"n": 1}),
                "InputDetails": {"Included": True},
                "Output": Json({"done": 1}),
                "OutputDetails": {"Included": True},
                "Status": "SUCCEEDED",
            },
        ),
        machines=CHILD,
    ),
    Case(
        "sync2_result_holds_the_child_input_and_output_as_json",
        docs.NESTED,
        machine({"Child": _start("startExecution.sync:2", ResultSelector=SELECTED)}),
        Expect(
            "SUCCEEDED",
            SYNC_OK,
            output={
                "Input": {"n": 1},
                "InputDetails": {"Included": True},
                "Output": {"done": 1},
                "OutputDetails": {"Included": True},
                "Status": "SUCCEEDED",
            },
        ),
        machines=CHILD,
    ),
    Case(
        # The parent's own output is the raw .sync:2 result, dates included: DescribeExecution of the
        # parent must serialise it (the runner's wait calls it, as EmbeddedStack.wait does).
        "parent_holding_a_raw_sync_result_can_be_described",
        docs.DESCRIBE_EXECUTION,
        machine({"Child": _start("startExecution.sync:2")}),
        Expect(
            "SUCCEEDED",
            SYNC_OK,
            output={
                "ExecutionArn": EXECUTION_ARN,
                "Input": {"n": 1},
                "InputDetails": {"Included": True},
                "Name": ANY_VALUE,
                "Output": {"done": 1},
                "OutputDetails": {"Included": True},
                "StartDate": EPOCH_MILLIS,
                "StateMachineArn": MACHINE_ARN,
                "Status": "SUCCEEDED",
                "StopDate": EPOCH_MILLIS,
            },
        ),
        machines=CHILD,
    ),
    Case(
        "sync_child_failure_fails_the_parent_with_states_task_failed",
        docs.NESTED,
        machine({"Child": _start("startExecution.sync")}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Child", (*SUBMITTED, "TaskFailed"), exited=False), "ExecutionFailed"],
            error="States.TaskFailed",
            cause=Json(
                {
                    "Cause": "bad child",
                    "Error": "ChildError",
                    "ExecutionArn": EXECUTION_ARN,
                    "Input": Json({"n": 1}),
                    "InputDetails": {"Included": True},
                    "Name": ANY_VALUE,
                    "StartDate": EPOCH_MILLIS,
                    "StateMachineArn": MACHINE_ARN,
                    "Status": "FAILED",
                    "StopDate": EPOCH_MILLIS,
                }
            ),
        ),
        machines=FAILING_CHILD,
    ),
    Case(
        "sync_task_token_completes_the_parent_early",
        docs.SYNC,
        machine(
            {
                "Child": _start(
                    "startExecution.sync",
                    Parameters={"StateMachineArn": "${Child}", "Input": {"token.$": "$$.Task.Token"}},
                )
            }
        ),
        Expect("SUCCEEDED", SYNC_OK, output={"answered": "early"}),
        {"Answer": Function("answer_parent")},
        machines={
            "Child": machine(
                {
                    "Answer": {
                        "Type": "Task",
                        "Resource": "${Answer}",
                        "Parameters": {"token.$": "$.token", "output": {"answered": "early"}, "after": 3},
                        "Next": "Linger",
                    },
                    "Linger": {
                        "Type": "Wait",
                        "Seconds": 60,
                        "End": True,
                    },  # still running when the parent ends
                }
            )
        },
    ),
    Case(
        "children_started_without_a_name_get_generated_names",
        docs.NESTED,
        machine(
            {
                "Items": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        **machine(
                            {
                                "Child": {
                                    "Type": "Task",
                                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                                    "Parameters": {"StateMachineArn": "${Child}", "Input": {"n.$": "$"}},
                                    "ResultSelector": {"name.$": "$.Name", "output.$": "$.Output"},
                                    "End": True,
                                }
                            }
                        ),
                    },
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "MapStateEntered:Items",
                "MapStateStarted",
                *[
                    "MapIterationStarted",
                    *task("Child", (*SUBMITTED, "TaskSucceeded")),
                    "MapIterationSucceeded",
                ]
                * 2,
                "MapStateSucceeded",
                "MapStateExited:Items",
                "ExecutionSucceeded",
            ],
            output=[{"name": UUID, "output": {"done": 1}}, {"name": UUID, "output": {"done": 2}}],
        ),
        machines=CHILD,
        input={"items": [1, 2]},
    ),
    Case(
        "start_execution_without_sync_returns_at_once",
        docs.NESTED,
        machine({"Child": _start("startExecution", ResultSelector={"arn.$": "$.ExecutionArn"})}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Child", INVOKE_OK), "ExecutionSucceeded"],
            output={"arn": EXECUTION_ARN},
        ),
        machines=CHILD,
    ),
]
