"""The states around the tasks: Wait, Choice, Pass with intrinsic functions and the context object,
and a task's ResultSelector, ResultPath and OutputPath."""

from __future__ import annotations

import hashlib

from tests.conformance.case import INVOKE_OK, Case, Expect, Function, machine, passes, task
from tests.conformance.cases import docs

AREA = "basics"

CASES = [
    Case(
        "wait_state_waits_then_continues",
        docs.WAIT,
        machine(
            {"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}}
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "WaitStateEntered:Pause",
                "WaitStateExited:Pause",
                *passes("Done"),
                "ExecutionSucceeded",
            ],
            output={"order": 7},
        ),
        input={"order": 7},
    ),
    Case(
        "choice_routes_by_the_first_matching_rule",
        docs.CHOICE,
        machine(
            {
                "Route": {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.kind", "StringEquals": "a", "Next": "A"},
                        {"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"},
                        {"Variable": "$.kind", "StringEquals": "b", "Next": "B"},
                    ],
                    "Default": "A",
                },
                "A": {"Type": "Pass", "Result": "a", "End": True},
                "Big": {"Type": "Pass", "Result": {"route": "big"}, "End": True},
                "B": {"Type": "Pass", "Result": "b", "End": True},
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                "ChoiceStateEntered:Route",
                "ChoiceStateExited:Route",
                *passes("Big"),
                "ExecutionSucceeded",
            ],
            output={"route": "big"},
        ),
        input={"kind": "b", "n": 9},
    ),
    Case(
        "describe_execution_output_is_json_text",
        docs.DESCRIBE_EXECUTION,
        machine({"Done": {"Type": "Pass", "Result": "done", "End": True}}),
        Expect("SUCCEEDED", ["ExecutionStarted", *passes("Done"), "ExecutionSucceeded"], output="done"),
    ),
    Case(
        "intrinsic_functions_compute_values",
        docs.INTRINSICS,
        machine(
            {
                "Compute": {
                    "Type": "Pass",
                    "Parameters": {
                        "greeting.$": "States.Format('Hello, {}!', $.name)",
                        "parsed.$": "States.StringToJson($.json)",
                        "text.$": "States.JsonToString($.obj)",
                        "array.$": "States.Array($.name, $.n)",
                        "sum.$": "States.MathAdd($.n, 5)",
                        "length.$": "States.ArrayLength($.items)",
                        "contains.$": "States.ArrayContains($.items, 2)",
                        "second.$": "States.ArrayGetItem($.items, 1)",
                        "encoded.$": "States.Base64Encode($.name)",
                        "hash.$": "States.Hash($.name, 'SHA-256')",
                        "merged.$": "States.JsonMerge($.obj, $.more, false)",
                        "split.$": "States.StringSplit($.csv, ',')",
                    },
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *passes("Compute"), "ExecutionSucceeded"],
            output={
                "greeting": "Hello, Ada!",
                "parsed": {"a": 1},
                "text": '{"b":2}',
                "array": ["Ada", 7],
                "sum": 12,
                "length": 3,
                "contains": True,
                "second": 2,
                "encoded": "QWRh",
                "hash": hashlib.sha256(b"Ada").hexdigest(),
                "merged": {"b": 2, "c": 3},
                "split": ["x", "y"],
            },
        ),
        input={
            "name": "Ada",
            "json": '{"a":1}',
            "obj": {"b": 2},
            "more": {"c": 3},
            "n": 7,
            "items": [1, 2, 3],
            "csv": "x,y",
        },
    ),
    Case(
        "context_object_names_the_state_and_the_input",
        docs.STRUCTURE,
        machine(
            {
                "Look": {
                    "Type": "Pass",
                    "Parameters": {"state.$": "$$.State.Name", "input.$": "$$.Execution.Input"},
                    "ResultPath": "$.context",
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *passes("Look"), "ExecutionSucceeded"],
            output={"order": 7, "context": {"state": "Look", "input": {"order": 7}}},
        ),
        input={"order": 7},
    ),
    Case(
        "task_result_selector_result_path_and_output_path",
        docs.RESULT_PATH,
        machine(
            {
                "Work": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "${Echo}", "Payload.$": "$"},
                    "ResultSelector": {"echoed.$": "$.Payload", "status.$": "$.StatusCode"},
                    "ResultPath": "$.result",
                    "OutputPath": "$.result",
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", INVOKE_OK), "ExecutionSucceeded"],
            output={"echoed": {"order": 7}, "status": 200},
        ),
        {"Echo": Function("echo")},
        input={"order": 7},
    ),
]
