"""What the Lambda runtime and service put into a saga's history: an unhandled error's cause (message,
type, request id, the handler's own stack frames), a missing function's cause, results over the
payload quota (``States.DataLimitExceeded``, bytes or JSON), and each function's own environment."""

from __future__ import annotations

from typing import Any

from tests.conformance.case import (
    INVOKE_FAILED,
    LAMBDA_FAILED,
    LAMBDA_OK,
    MISSING,
    UUID,
    Case,
    Expect,
    Function,
    Json,
    Regex,
    Unordered,
    Where,
    machine,
    passes,
    task,
)
from tests.conformance.cases import docs

AREA = "lambda_runtime"
LIMIT_CAUSE = "returned a result with a size exceeding the maximum number of bytes service limit."


def _handler_frames_only(trace: Any) -> bool:
    """The runtime reports the handler's frames, as the function's code sees its path on AWS."""
    return (
        isinstance(trace, list)
        and len(trace) > 0
        and all(frame.startswith('  File "/var/task/tests/conformance/handlers.py"') for frame in trace)
    )


def _invoke(function: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function + "}", "Payload": {}},
        "End": True,
        **fields,
    }


def _limit_caught(work: dict[str, Any]) -> dict[str, Any]:
    caught = {key: value for key, value in work.items() if key != "End"}
    caught["Catch"] = [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Handled"}]
    caught["Next"] = "Done"
    return machine({"Work": caught, "Handled": {"Type": "Pass", "End": True}, "Done": {"Type": "Succeed"}})


def _service_name(function: str) -> dict[str, Any]:
    return machine({function: {"Type": "Task", "Resource": "${" + function + "}", "End": True}})


CASES = [
    Case(
        "lambda_error_cause_has_request_id_and_handler_frames",
        docs.LAMBDA_ERRORS,
        machine(
            {
                "Work": {
                    "Type": "Task",
                    "Resource": "${Fail}",
                    "Parameters": {"error": "CustomError", "message": "no stock"},
                    "End": True,
                }
            }
        ),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", LAMBDA_FAILED, exited=False), "ExecutionFailed"],
            error="CustomError",
            cause=Json(
                {
                    "errorMessage": "no stock",
                    "errorType": "CustomError",
                    "requestId": UUID,
                    "stackTrace": Where(_handler_frames_only, "the handler module's frames, under /var/task"),
                }
            ),
        ),
        {"Fail": Function("fail")},
    ),
    Case(
        "missing_function_cause_names_latest",
        docs.LAMBDA,
        machine({"Work": _invoke("Missing")}),
        Expect(
            "FAILED",
            ["ExecutionStarted", *task("Work", INVOKE_FAILED, exited=False), "ExecutionFailed"],
            error="Lambda.ResourceNotFoundException",
            cause=Regex(
                r"Function not found: arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[\w-]+:\$LATEST "
                r"\(Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; "
                r"Request ID: [\w-]+; Proxy: null\)"
            ),
        ),
        {"Missing": MISSING},
    ),
    Case(
        "bytes_over_the_quota_from_a_function_arn_is_data_limit_exceeded",
        docs.QUOTAS,
        _limit_caught({"Type": "Task", "Resource": "${Big}", "End": True}),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", LAMBDA_FAILED), *passes("Handled"), "ExecutionSucceeded"],
            output={
                "Error": "States.DataLimitExceeded",
                "Cause": Regex(r"The state/task 'arn:aws:lambda:[^']+' " + LIMIT_CAUSE.replace(".", r"\.")),
            },
        ),
        {"Big": Function("large_bytes")},
    ),
    Case(
        "bytes_over_the_quota_from_lambda_invoke_is_data_limit_exceeded",
        docs.QUOTAS,
        _limit_caught(_invoke("Big")),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", INVOKE_FAILED), *passes("Handled"), "ExecutionSucceeded"],
            output={"Error": "States.DataLimitExceeded", "Cause": f"The state/task 'lambda' {LIMIT_CAUSE}"},
        ),
        {"Big": Function("large_bytes")},
    ),
    Case(
        "json_string_over_the_quota_from_lambda_invoke_is_data_limit_exceeded",
        docs.QUOTAS,
        _limit_caught(_invoke("Big")),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", INVOKE_FAILED), *passes("Handled"), "ExecutionSucceeded"],
            output={"Error": "States.DataLimitExceeded", "Cause": f"The state/task 'lambda' {LIMIT_CAUSE}"},
        ),
        {"Big": Function("large_string")},
    ),
    Case(
        "each_function_logs_under_its_own_service_name",
        docs.LAMBDA_ENV,  # each function its own variables; Powertools reads POWERTOOLS_SERVICE_NAME
        machine(
            {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [_service_name("Orders"), _service_name("Billing")],
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
                Unordered(*task("Orders", LAMBDA_OK), *task("Billing", LAMBDA_OK)),
                "ParallelStateSucceeded",
                "ParallelStateExited:Both",
                "ExecutionSucceeded",
            ],
            output=["orders", "billing"],
        ),
        {
            "Orders": Function("service_name", {"POWERTOOLS_SERVICE_NAME": "orders"}, app_code=True),
            "Billing": Function("service_name", {"POWERTOOLS_SERVICE_NAME": "billing"}, app_code=True),
        },
    ),
]
