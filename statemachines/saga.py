"""The saga declaration language and its compiler to Amazon States Language.

A saga is declared once, as data: ordered steps, each with its agent handler, its
compensation handler (or none), retry policy, timeout and heartbeat. ``compile_saga``
turns the declaration into ASL whose function ARNs are ``${...}`` placeholders that CDK
fills in with ``DefinitionSubstitutions``. Catch chains are generated, never hand-wired:
a failure at step k enters the compensation chain at the nearest compensable step at or
before k (its compensation reads the ledger, so a step that wrote nothing undoes nothing)
and walks it in reverse order to the ``RolledBack`` Fail state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from functions.common.names import COMPENSATION_FAILED

# Error names shared by the compiler and the handlers (the exception class names).
INVALID_REQUEST = "InvalidRequest"
PERMANENT_ERROR = "AgentPermanentError"
TARGET_REFUSED = "TargetRefused"  # an AgentPermanentError; Step Functions matches names, not classes
TARGET_UNREACHABLE = "TargetUnreachable"  # likewise: no test reached the target
NON_RETRYABLE = (INVALID_REQUEST, PERMANENT_ERROR, TARGET_REFUSED, TARGET_UNREACHABLE)

# Retry the Lambda service's own transient faults on every task (AWS's recommended set).
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)

SUCCEEDED = "SagaSucceeded"
ROLLED_BACK = "RolledBack"
INPUT_REJECTED = "InputRejected"
REPORT_COMPENSATION_FAILURE = "ReportCompensationFailure"

_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries after the first attempt: ``max_attempts=3, interval=1`` waits 1 s, 2 s, 4 s."""

    max_attempts: int
    interval_seconds: int
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None

    def to_asl(self, errors: tuple[str, ...]) -> dict[str, Any]:
        retrier: dict[str, Any] = {
            "ErrorEquals": list(errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
        }
        if self.max_delay_seconds is not None:
            retrier["MaxDelaySeconds"] = self.max_delay_seconds
        return retrier


@dataclass(frozen=True)
class EachItem:
    """Run a step's work once per item, concurrently, in a Map state.

    Each item's task has the step's Retry; an item that still fails is caught and recorded,
    so the other items finish. A policy task then fails the step when more than
    ``tolerated_failure_percentage`` of the items failed (0: any failure fails the saga).
    Inline Map history grows ~7 events per item: past ~3,000 items (25,000 events) use
    ``distributed=True``, which gives every batch of items its own child execution history.

    Each item's task gets its item and the faults at ``faults_path``, which the step that
    writes ``items_path`` writes too: the input's ``$.faults`` may be absent, and a JSONPath
    to a missing field fails the state with ``States.Runtime``, which no Catch catches.
    """

    items_path: str
    item_state: str
    faults_path: str
    max_concurrency: int = 10
    tolerated_failure_percentage: float = 0.0
    policy_handler: str = "functions.handlers.parallel_policy.handler"
    distributed: bool = False

    @property
    def failed_state(self) -> str:
        return f"{self.item_state}Failed"


@dataclass(frozen=True)
class Step:
    """One forward step of a saga and how it is undone.

    ``handler``/``compensation`` are Lambda handler paths. ``owns`` names the data the step
    creates (and its compensation undoes); ``reads`` the data of earlier steps it reads.
    A step with ``heartbeat_seconds`` is a callback task (``.waitForTaskToken``): the
    handler is invoked asynchronously with the task token and reports back itself, which
    is how a step outlives Lambda's 15 minutes.
    """

    name: str
    handler: str
    timeout_seconds: int
    retry: RetryPolicy
    compensation: str | None = None
    heartbeat_seconds: int | None = None
    owns: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    non_retryable: tuple[str, ...] = NON_RETRYABLE
    description: str = ""
    # An approval gate: the handler stores the task token and the saga waits for a signal.
    gate: bool = False
    each: EachItem | None = None

    @property
    def compensation_state(self) -> str:
        return f"Compensate{self.name}"

    @property
    def policy_state(self) -> str:
        return f"{self.name}Policy"

    @property
    def task_states(self) -> dict[str, str]:
        """State name -> handler path for every Lambda-backed state this step generates."""
        if self.each is None:
            return {self.name: self.handler}
        return {self.each.item_state: self.handler, self.policy_state: self.each.policy_handler}

    @property
    def is_callback(self) -> bool:
        return self.heartbeat_seconds is not None


@dataclass(frozen=True)
class Saga:
    name: str
    comment: str
    steps: tuple[Step, ...]
    compensation_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(3, 1))
    compensation_timeout_seconds: int = 300
    failure_reporter: str = "functions.handlers.compensation_failure.handler"

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if not names:
            raise ValueError("a saga needs at least one step")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names in {names}")
        reserved = {SUCCEEDED, ROLLED_BACK, INPUT_REJECTED, COMPENSATION_FAILED, REPORT_COMPENSATION_FAILURE}
        generated = reserved | {s.compensation_state for s in self.steps}
        generated |= {s.policy_state for s in self.steps if s.each}
        generated |= {n for s in self.steps if s.each for n in (s.each.item_state, s.each.failed_state)}
        for step in self.steps:
            if step.name in generated:
                raise ValueError(f"step name {step.name!r} collides with a generated state name")
            if not _NAME.match(step.name):
                raise ValueError(f"step name {step.name!r} must be PascalCase (it is a state name)")
            if step.heartbeat_seconds is not None and step.heartbeat_seconds >= step.timeout_seconds:
                raise ValueError(f"{step.name}: heartbeat must be shorter than the timeout")
        for index, step in enumerate(self.steps):
            # A Map reading a path that an earlier step did not write fails with States.Runtime,
            # which no Catch catches: the faults must come from an earlier step's result (not a
            # Map's: it keeps no result, ``ResultPath`` null).
            earlier = {f"$.results.{s.name}." for s in self.steps[:index] if not s.each}
            if step.each and not any(step.each.faults_path.startswith(p) for p in earlier):
                raise ValueError(
                    f"{step.name}: faults_path must be in an earlier step's result ($.results.<step>.)"
                )

    @property
    def compensable(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.compensation)

    def functions(self) -> dict[str, str]:
        """Substitution key -> handler path, for every Lambda the saga invokes."""
        found = {function_key(state): handler for s in self.steps for state, handler in s.task_states.items()}
        found.update(
            {function_key(s.compensation_state): s.compensation for s in self.compensable if s.compensation}
        )
        found[function_key(REPORT_COMPENSATION_FAILURE)] = self.failure_reporter
        return found


def function_key(state_name: str) -> str:
    """The ``DefinitionSubstitutions`` key of the function behind a state."""
    return f"{state_name}FunctionArn"


# ``${Key}``: what the compiled ASL names an ARN by, and ``DefinitionSubstitutions`` replaces.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholder(key: str) -> str:
    return "${" + key + "}"


def _payload(
    step_state: str, *, token: bool = False, heartbeat_seconds: int | None = None, root: str = "$"
) -> dict[str, Any]:
    """What every task receives: the saga document plus where it is in the execution.

    The saga id is the execution name, so starting a saga with the same name is idempotent
    and every record of one saga shares one key. ``attempt`` (``$$.State.RetryCount``) lets
    a handler tell a retry from a first attempt.
    """
    context: dict[str, Any] = {
        "saga_id.$": "$$.Execution.Name",
        "execution_arn.$": "$$.Execution.Id",
        "state.$": "$$.State.Name",
        "attempt.$": "$$.State.RetryCount",
    }
    if token or heartbeat_seconds is not None:
        context["task_token.$"] = "$$.Task.Token"
    if heartbeat_seconds is not None:
        context["heartbeat_seconds"] = heartbeat_seconds
    return {"saga.$": root, "context": context}


def _retry(step: Step) -> list[dict[str, Any]]:
    return [
        # Non-retryable business errors first: MaxAttempts 0 means "never retry".
        {"ErrorEquals": list(step.non_retryable), "MaxAttempts": 0},
        RetryPolicy(3, 1).to_asl(LAMBDA_SERVICE_ERRORS),
        step.retry.to_asl(("States.ALL",)),
    ]


def _catches(saga: Saga, index: int) -> list[dict[str, Any]]:
    catches: list[dict[str, Any]] = []
    if index == 0:
        # Bad input is rejected before anything is written: nothing to compensate.
        catches.append({"ErrorEquals": [INVALID_REQUEST], "ResultPath": "$.error", "Next": INPUT_REJECTED})
    catches.append(
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": _rollback_entry(saga, index)}
    )
    return catches


def _next_state(saga: Saga, index: int) -> str:
    return saga.steps[index + 1].name if index + 1 < len(saga.steps) else SUCCEEDED


def _gate_state(saga: Saga, index: int) -> dict[str, Any]:
    """Wait for a signal: the handler stores the task token; approve/cancel answer it."""
    step = saga.steps[index]
    return {
        "Type": "Task",
        "Comment": step.description or f"{step.name}: wait for a signal",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": placeholder(function_key(step.name)),
            "Payload": _payload(step.name, token=True),
        },
        "TimeoutSeconds": step.timeout_seconds,
        "ResultPath": f"$.results.{step.name}",
        # Only the Lambda service's own faults are retried: a cancel or a timeout is final.
        "Retry": [RetryPolicy(3, 1).to_asl(LAMBDA_SERVICE_ERRORS)],
        "Catch": _catches(saga, index),
        "Next": _next_state(saga, index),
    }


def _map_states(saga: Saga, index: int) -> dict[str, dict[str, Any]]:
    """The Map state that runs a step per item, and the policy task that judges the results."""
    step = saga.steps[index]
    each = step.each
    assert each is not None
    item_task: dict[str, Any] = {
        "Type": "Task",
        "Comment": f"{step.name}: one item",
        "Resource": placeholder(function_key(each.item_state)),
        "Parameters": {**_payload(each.item_state, root="$.saga"), "item.$": "$.item"},
        "TimeoutSeconds": step.timeout_seconds,
        "Retry": _retry(step),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": each.failed_state}],
        "End": True,
    }
    failed = {
        "Type": "Pass",
        "Comment": "Record the failed item; the policy decides whether the step fails",
        "Parameters": {
            "item.$": "$.item",
            "failed": True,
            "error.$": "$.error.Error",
        },
        "End": True,
    }
    processor: dict[str, Any] = {"ProcessorConfig": {"Mode": "INLINE"}}
    if each.distributed:
        processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}
    mapped = {
        "Type": "Map",
        "Comment": step.description or f"{step.name}: every item, concurrently",
        "ItemsPath": each.items_path,
        "MaxConcurrency": each.max_concurrency,
        # Each item gets its id and the faults, all its handler reads. Not the Map's whole state
        # (every item's id and every earlier result: O(n^2) bytes copied, logged and parsed
        # over n items), nor the execution's input (the request: n times ~28 KB at 3,000 tests).
        "ItemSelector": {"saga": {"faults.$": each.faults_path}, "item.$": "$$.Map.Item.Value"},
        "ItemProcessor": {
            **processor,
            "StartAt": each.item_state,
            "States": {each.item_state: item_task, each.failed_state: failed},
        },
        # The items' outcomes are in the Runs table; keeping them here would grow the state
        # past its 256 KB limit (an uncatchable failure) at a few thousand items.
        "ResultPath": None,
        "Catch": _catches(saga, index),
        "Next": step.policy_state,
    }
    policy = {
        "Type": "Task",
        "Comment": f"Fail {step.name} if more than {each.tolerated_failure_percentage}% of the items failed",
        "Resource": placeholder(function_key(step.policy_state)),
        "Parameters": {
            **_payload(step.policy_state),
            "policy": {"step": step.name, "tolerated_failure_percentage": each.tolerated_failure_percentage},
        },
        "TimeoutSeconds": 60,
        "ResultPath": f"$.results.{step.policy_state}",
        "Retry": [
            {"ErrorEquals": list(step.non_retryable), "MaxAttempts": 0},
            RetryPolicy(3, 1).to_asl(("States.ALL",)),
        ],
        "Catch": _catches(saga, index),
        "Next": _next_state(saga, index),
    }
    return {step.name: mapped, step.policy_state: policy}


def _forward_state(saga: Saga, index: int) -> dict[str, Any]:
    step = saga.steps[index]
    next_state = _next_state(saga, index)
    state: dict[str, Any] = {"Type": "Task", "Comment": step.description or f"{step.name} agent"}
    if step.is_callback:
        state["Resource"] = "arn:aws:states:::lambda:invoke.waitForTaskToken"
        state["Parameters"] = {
            "FunctionName": placeholder(function_key(step.name)),
            # Asynchronous: the agent runs past this call and reports with the task token.
            "InvocationType": "Event",
            "Payload": _payload(step.name, heartbeat_seconds=step.heartbeat_seconds),
        }
        state["HeartbeatSeconds"] = step.heartbeat_seconds
    else:
        state["Resource"] = placeholder(function_key(step.name))
        state["Parameters"] = _payload(step.name)
    state["TimeoutSeconds"] = step.timeout_seconds
    state["ResultPath"] = f"$.results.{step.name}"
    state["Retry"] = _retry(step)
    state["Catch"] = _catches(saga, index)
    state["Next"] = next_state
    return state


def _rollback_entry(saga: Saga, failed_index: int) -> str:
    """The first compensation to run when step ``failed_index`` fails.

    The failed step itself is included: it may have written part of its work before failing,
    and its compensation undoes exactly what the ledger says it wrote (nothing, if nothing).
    """
    for step in reversed(saga.steps[: failed_index + 1]):
        if step.compensation:
            return step.compensation_state
    return ROLLED_BACK


def _compensation_state(saga: Saga, step: Step) -> dict[str, Any]:
    earlier = [s for s in saga.compensable if saga.steps.index(s) < saga.steps.index(step)]
    return {
        "Type": "Task",
        "Comment": f"Undo what {step.name} recorded in the ledger",
        "Resource": placeholder(function_key(step.compensation_state)),
        "Parameters": _payload(step.compensation_state),
        "TimeoutSeconds": saga.compensation_timeout_seconds,
        "ResultPath": f"$.compensations.{step.name}",
        "Retry": [
            RetryPolicy(3, 1).to_asl(LAMBDA_SERVICE_ERRORS),
            saga.compensation_retry.to_asl(("States.ALL",)),
        ],
        "Catch": [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.compensation_error",
                "Next": REPORT_COMPENSATION_FAILURE,
            }
        ],
        "Next": earlier[-1].compensation_state if earlier else ROLLED_BACK,
    }


def report_failure_state() -> dict[str, Any]:
    """Put the saga and what its ledger says is left to undo on the dead-letter queue."""
    return {
        "Type": "Task",
        "Comment": "Send what is left to undo to the dead-letter queue",
        "Resource": placeholder(function_key(REPORT_COMPENSATION_FAILURE)),
        "Parameters": _payload(REPORT_COMPENSATION_FAILURE),
        "TimeoutSeconds": 60,
        "ResultPath": "$.dead_letter",
        "Retry": [RetryPolicy(5, 1).to_asl(("States.ALL",))],
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.report_error", "Next": COMPENSATION_FAILED}
        ],
        "Next": COMPENSATION_FAILED,
    }


def compile_saga(saga: Saga) -> dict[str, Any]:
    """Compile a saga declaration to an ASL document (a dict, ready for ``json.dumps``)."""
    states: dict[str, Any] = {}
    for index, step in enumerate(saga.steps):
        if step.gate:
            states[step.name] = _gate_state(saga, index)
        elif step.each is not None:
            states.update(_map_states(saga, index))
        else:
            states[step.name] = _forward_state(saga, index)
    states[SUCCEEDED] = {"Type": "Succeed", "Comment": "Every step completed"}
    for step in reversed(saga.compensable):
        states[step.compensation_state] = _compensation_state(saga, step)
    states[ROLLED_BACK] = {
        "Type": "Fail",
        "Comment": "A step failed and every completed step was compensated",
        "Error": "SagaRolledBack",
        "Cause": "A step failed; the work of the steps before it was undone in reverse order.",
    }
    states[INPUT_REJECTED] = {
        "Type": "Fail",
        "Comment": "The request was invalid; nothing was written",
        "Error": INVALID_REQUEST,
        "CausePath": "$.error.Cause",
    }
    states[REPORT_COMPENSATION_FAILURE] = report_failure_state()
    states[COMPENSATION_FAILED] = {
        "Type": "Fail",
        "Comment": "A compensation kept failing; the saga needs a resume (see README)",
        "Error": COMPENSATION_FAILED,
        "Cause": "A compensation exhausted its retries; what is left to undo is on the dead-letter queue.",
    }
    # No execution-wide TimeoutSeconds: when it fires no Catch runs, so a saga would end
    # without its compensations. Every task has its own timeout, so no execution can hang.
    return {"Comment": saga.comment, "StartAt": saga.steps[0].name, "States": states}


def render(saga: Saga) -> str:
    """The ASL as it is written to ``statemachines/<name>.asl.json``."""
    return json.dumps(compile_saga(saga), indent=2) + "\n"
