"""Retry: how many attempts each retrier allows, in which order retriers match, and retry before catch.

The handler fails attempt ``n`` (``$$.State.RetryCount``) with ``errors[n]`` and succeeds after them.
"""

from __future__ import annotations

from typing import Any

from tests.conformance.case import (
    INVOKE_FAILED,
    INVOKE_OK,
    LAMBDA_FAILED,
    LAMBDA_OK,
    Case,
    Expect,
    Function,
    machine,
    passes,
    task,
)
from tests.conformance.cases import docs

AREA = "retries"
FLAKY = {"Flaky": Function("fail_attempts")}


def _work(errors: list[str], retry: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "${Flaky}",
        "Parameters": {"attempt.$": "$$.State.RetryCount", "errors": errors},
        "Retry": retry,
        "End": True,
        **fields,
    }


def _retrier(*errors: str, attempts: int, **fields: Any) -> dict[str, Any]:
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": 1,
        "BackoffRate": 1.0,
        "MaxAttempts": attempts,
        **fields,
    }


def _failed_after(attempts: int) -> list[str]:
    return ["ExecutionStarted", *task("Work", *[LAMBDA_FAILED] * attempts, exited=False), "ExecutionFailed"]


def _succeeded_after(failures: int) -> list[str]:
    return ["ExecutionStarted", *task("Work", *[LAMBDA_FAILED] * failures, LAMBDA_OK), "ExecutionSucceeded"]


ALWAYS = ["Transient"] * 6

CASES = [
    Case(
        "retry_max_attempts_zero_never_retries",
        docs.RETRY,
        machine({"Work": _work(ALWAYS, [_retrier("States.ALL", attempts=0)])}),
        Expect("FAILED", _failed_after(1), error="Transient"),
        FLAKY,
    ),
    Case(
        "retry_max_attempts_two_then_fails",
        docs.RETRY,
        machine({"Work": _work(ALWAYS, [_retrier("Transient", attempts=2)])}),
        Expect("FAILED", _failed_after(3), error="Transient"),
        FLAKY,
    ),
    Case(
        "retry_max_attempts_three_exhausted",
        docs.RETRY,
        machine({"Work": _work(ALWAYS, [_retrier("Transient", attempts=3)])}),
        Expect("FAILED", _failed_after(4), error="Transient"),
        FLAKY,
    ),
    Case(
        "retry_succeeds_on_the_third_attempt",
        docs.RETRY,
        machine({"Work": _work(["Transient", "Transient"], [_retrier("Transient", attempts=3)])}),
        Expect("SUCCEEDED", _succeeded_after(2), output={"attempts": 3}),
        FLAKY,
    ),
    Case(
        # The first retrier whose ErrorEquals names the error applies; once it is exhausted the
        # state fails, even though a later retrier (States.ALL) would still allow attempts.
        "first_matching_retrier_applies_until_exhausted",
        docs.RETRY,
        machine(
            {
                "Work": _work(
                    ["Throttled"] * 6, [_retrier("Throttled", attempts=1), _retrier("States.ALL", attempts=3)]
                )
            }
        ),
        Expect("FAILED", _failed_after(2), error="Throttled"),
        FLAKY,
    ),
    Case(
        "each_retrier_counts_its_own_attempts",
        docs.RETRY,
        machine(
            {
                "Work": _work(
                    ["Throttled", "Flaky", "Throttled", "Flaky"],
                    [_retrier("Throttled", attempts=2), _retrier("Flaky", attempts=2)],
                )
            }
        ),
        Expect("SUCCEEDED", _succeeded_after(4), output={"attempts": 5}),
        FLAKY,
    ),
    Case(
        "retry_backoff_max_delay_and_jitter",
        docs.RETRY,
        machine(
            {
                "Work": _work(
                    ["Transient", "Transient"],
                    [
                        _retrier(
                            "Transient", attempts=2, BackoffRate=2.0, MaxDelaySeconds=1, JitterStrategy="FULL"
                        )
                    ],
                )
            }
        ),
        Expect("SUCCEEDED", _succeeded_after(2), output={"attempts": 3}),
        FLAKY,
    ),
    Case(
        "retries_run_before_the_catcher",
        docs.ERRORS,
        machine(
            {
                "Work": _work(
                    ALWAYS,
                    [_retrier("Transient", attempts=1)],
                    Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}],
                ),
                "Handled": {"Type": "Pass", "Parameters": {"caught.$": "$.error.Error"}, "End": True},
            }
        ),
        Expect(
            "SUCCEEDED",
            [
                "ExecutionStarted",
                *task("Work", LAMBDA_FAILED, LAMBDA_FAILED),
                *passes("Handled"),
                "ExecutionSucceeded",
            ],
            output={"caught": "Transient"},
        ),
        FLAKY,
    ),
    Case(
        "lambda_invoke_integration_retries",
        docs.LAMBDA,
        machine(
            {
                "Work": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {
                        "FunctionName": "${Flaky}",
                        "Payload": {"attempt.$": "$$.State.RetryCount", "errors": ["Transient"]},
                    },
                    "ResultSelector": {"result.$": "$.Payload"},
                    "Retry": [_retrier("Transient", attempts=2)],
                    "End": True,
                }
            }
        ),
        Expect(
            "SUCCEEDED",
            ["ExecutionStarted", *task("Work", INVOKE_FAILED, INVOKE_OK), "ExecutionSucceeded"],
            output={"result": {"attempts": 2}},
        ),
        FLAKY,
    ),
]
