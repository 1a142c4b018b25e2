"""Sagas of sagas: a parent that runs one child saga per project, and the rollback machine
that compensates a child after it succeeded (or resumes a saga whose own rollback stopped).

The parent starts each child with ``states:startExecution.sync:2`` under a deterministic
name (``<parent>-p<index>``), so a retried or redriven parent never starts a duplicate:
Step Functions answers a start with the same name and input with the existing execution.
If any child fails, the parent compensates every child that succeeded by running the
child saga's compensations (compiled from the same declaration into a rollback machine,
started under the child's own name, so its compensations see the child's saga id), then
ends ``RolledBack``. A child that failed has already rolled itself back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.common.names import CHILD_SAGA_ID
from statemachines.saga import (
    COMPENSATION_FAILED,
    LAMBDA_SERVICE_ERRORS,
    REPORT_COMPENSATION_FAILURE,
    ROLLED_BACK,
    RetryPolicy,
    Saga,
    _compensation_state,
    function_key,
    placeholder,
    report_failure_state,
)

SYNC = "arn:aws:states:::states:startExecution.sync:2"
# The child's execution name, which the HTTP API's status reads children by.
CHILD_NAME = f"States.Format('{CHILD_SAGA_ID}', $.parent, $.index)"
# Retried when starting or watching a child: throttling and transient service faults.
# (Not States.Timeout: a retry would start the same name again and be refused.)
SFN_TRANSIENT = ("StepFunctions.ExecutionLimitExceeded", "StepFunctions.SdkClientException")


def state_machine_key(saga_name: str) -> str:
    """The ``DefinitionSubstitutions`` key of another state machine's ARN."""
    return "".join(part.capitalize() for part in saga_name.split("-")) + "StateMachineArn"


def rollback_name(saga: Saga) -> str:
    return f"{saga.name}-rollback"


def compile_rollback(saga: Saga) -> dict[str, Any]:
    """Only the compensation chain of ``saga``, latest step first: undo a saga that succeeded
    (a parent's child), or finish one whose rollback stopped (a resume). Each compensation undoes
    what the ledger holds, so a step already compensated, or never run, is a no-op."""
    states: dict[str, Any] = {}
    for step in reversed(saga.compensable):
        state = _compensation_state(saga, step)
        if state["Next"] == ROLLED_BACK:
            state["Next"] = "Compensated"
        states[step.compensation_state] = state
    states["Compensated"] = {"Type": "Succeed", "Comment": "Every step the saga recorded is undone"}
    states[REPORT_COMPENSATION_FAILURE] = report_failure_state()
    states[COMPENSATION_FAILED] = {
        "Type": "Fail",
        "Error": COMPENSATION_FAILED,
        "Cause": "A compensation kept failing.",
    }
    return {
        "Comment": f"Compensate a {saga.name} saga, started under its id (a parent's child, a resume)",
        "StartAt": saga.compensable[-1].compensation_state,
        "States": states,
    }


@dataclass(frozen=True)
class ParentSaga:
    """One child saga per item of ``$.projects``, at most ``max_concurrency`` at once."""

    name: str
    comment: str
    child: Saga
    max_concurrency: int = 2
    summary_handler: str = "functions.handlers.children.handler"
    # Longer than any child can run (its steps' timeouts and retries, or a day's approval).
    child_timeout_seconds: int = 7 * 24 * 3600

    def functions(self) -> dict[str, str]:
        return {function_key("SummariseProjects"): self.summary_handler}

    def state_machines(self) -> tuple[str, ...]:
        """Other state machines this one starts (their ARNs are substitutions)."""
        return (self.child.name, rollback_name(self.child))


def _child_run(machine_key: str, name: str, input_fields: dict[str, Any], timeout: int) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": SYNC,
        "Parameters": {
            "StateMachineArn": placeholder(machine_key),
            "Name.$": name,
            "Input": {**input_fields, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
        },
        "TimeoutSeconds": timeout,
        "Retry": [
            RetryPolicy(3, 1).to_asl(SFN_TRANSIENT),
            RetryPolicy(3, 1).to_asl(LAMBDA_SERVICE_ERRORS),
        ],
    }


def compile_parent(parent: ParentSaga) -> dict[str, Any]:
    child_key = state_machine_key(parent.child.name)
    rollback_key = state_machine_key(rollback_name(parent.child))
    run_child = _child_run(
        child_key,
        CHILD_NAME,
        {"request.$": "$.project.request"},
        parent.child_timeout_seconds,
    )
    run_child.update(
        {
            "Comment": "Run one project's saga and wait for its outcome",
            "ResultSelector": {"name.$": "$.Name", "status.$": "$.Status"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ProjectSagaFailed"}],
            "End": True,
        }
    )
    compensate_child = _child_run(
        rollback_key, "$.name", {"request.$": "$.request"}, parent.child_timeout_seconds
    )
    compensate_child.update(
        {
            "Comment": "Undo a project's saga (idempotent: it undoes what the child's ledger holds)",
            # An outcome, not a record: ``$.compensated[i]`` is that of ``$.summary.to_compensate[i]``
            # (a Map keeps item order), so the check below needs no ``[*].status`` projection,
            # which LocalStack collapses to a scalar over a one-element array.
            "ResultSelector": {"status": "COMPENSATED"},
            "OutputPath": "$.status",
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ProjectRollbackFailed"}
            ],
            "End": True,
        }
    )
    states: dict[str, Any] = {
        "RunProjectSagas": {
            "Type": "Map",
            "Comment": "One child saga per project, deterministic names, bounded concurrency",
            "ItemsPath": "$.projects",
            "MaxConcurrency": parent.max_concurrency,
            "ItemSelector": {
                "project.$": "$$.Map.Item.Value",
                "index.$": "$$.Map.Item.Index",
                "parent.$": "$$.Execution.Name",
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "RunProjectSaga",
                "States": {
                    "RunProjectSaga": run_child,
                    "ProjectSagaFailed": {
                        "Type": "Pass",
                        "Comment": "The child already rolled itself back; record it",
                        "Parameters": {
                            "name.$": CHILD_NAME,
                            "status": "FAILED",
                            "error.$": "$.error.Error",
                            "cause.$": "$.error.Cause",
                        },
                        "End": True,
                    },
                },
            },
            "ResultPath": "$.children",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": COMPENSATION_FAILED}],
            "Next": "SummariseProjects",
        },
        "SummariseProjects": {
            "Type": "Task",
            "Comment": "Which children succeeded and which failed",
            "Resource": placeholder(function_key("SummariseProjects")),
            "Parameters": {"children.$": "$.children", "projects.$": "$.projects"},
            "ResultPath": "$.summary",
            "Retry": [RetryPolicy(3, 1).to_asl(("States.ALL",))],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": COMPENSATION_FAILED}],
            "Next": "AnyProjectFailed",
        },
        "AnyProjectFailed": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.summary.failed_count",
                    "NumericGreaterThan": 0,
                    "Next": "CompensateProjectSagas",
                }
            ],
            "Default": "AllProjectsSucceeded",
        },
        "AllProjectsSucceeded": {"Type": "Succeed"},
        "CompensateProjectSagas": {
            "Type": "Map",
            "Comment": "Undo every child that succeeded or did not roll itself back",
            "ItemsPath": "$.summary.to_compensate",
            "MaxConcurrency": parent.max_concurrency,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "CompensateProjectSaga",
                "States": {
                    "CompensateProjectSaga": compensate_child,
                    # One failed rollback must not stop the others: record it and go on
                    # (its error stays in the history's TaskFailed event).
                    "ProjectRollbackFailed": {"Type": "Pass", "Result": "FAILED", "End": True},
                },
            },
            "ResultPath": "$.compensated",
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.compensation_error",
                    "Next": COMPENSATION_FAILED,
                }
            ],
            "Next": "AllRollbacksDone",
        },
        "AllRollbacksDone": {
            "Type": "Pass",
            "Comment": "Did every project's rollback finish?",
            "Parameters": {"failed.$": "States.ArrayContains($.compensated, 'FAILED')"},
            "ResultPath": "$.rollbacks",
            "Next": "AnyRollbackFailed",
        },
        "AnyRollbackFailed": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.rollbacks.failed", "BooleanEquals": True, "Next": COMPENSATION_FAILED}
            ],
            "Default": ROLLED_BACK,
        },
        ROLLED_BACK: {
            "Type": "Fail",
            "Error": "SagaRolledBack",
            "Cause": "A project's saga failed; every project saga that had succeeded was compensated.",
        },
        COMPENSATION_FAILED: {
            "Type": "Fail",
            "Error": COMPENSATION_FAILED,
            "Cause": "A project's rollback failed; see that rollback execution and the dead-letter queue.",
        },
    }
    return {"Comment": parent.comment, "StartAt": "RunProjectSagas", "States": states}
