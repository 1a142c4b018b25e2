"""Step Functions as AWS runs the sagas: callbacks and task tokens, errors and causes, aborted
iterations and branches, nested executions, a clock tests can skip or scale (each execution's
deadline on its own), and an event per execution's end instead of polling."""

from __future__ import annotations

import copy
import copyreg
import datetime
import json
import logging
import pickle
import sys
import threading
import time
import uuid
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once
from stepsaga.embedded.patches.speed import SPEED

_log = logging.getLogger("stepsaga.embedded")
_lock = threading.Lock()  # guards each execution worker's done event
_clients_lock = threading.RLock()  # guards the client cache


# --- time skipping --------------------------------------------------------------------------------
class _Deadline:
    """An execution's ``TimeoutSeconds``, on the clock its Wait states skip ahead."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.ahead = 0.0  # skipped by its Wait states
        self.tick = threading.Event()  # a Wait skipped ahead, or the program ended

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started + self.ahead)


class SkippingClock:
    """Stands in for the ``time`` module where moto waits between retries and in Wait states.

    ``sleep`` returns at once and adds to ``skipped``; everything else is the real clock. An
    execution's own clock, which its ``TimeoutSeconds`` runs on, is the real one plus what its Wait
    states skipped (``wait``): a Wait longer than the time left ends with the execution timing out,
    as on AWS. Retry intervals are skipped on no execution's clock (``sleep`` has no execution).
    """

    def __init__(self) -> None:
        self.skipped = 0.0
        self._lock = threading.Lock()
        self._deadlines: dict[str, _Deadline] = {}  # by execution ARN, while it runs

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, float(seconds))

    def wait(self, execution: str, seconds: float) -> bool:
        """Skip a Wait of the execution; False if its deadline falls inside the Wait."""
        deadline = self._deadlines.get(execution)
        if deadline is None:
            self.sleep(seconds)
            return True
        skipped = max(0.0, min(float(seconds), deadline.remaining()))
        with self._lock:
            self.skipped += skipped
            deadline.ahead += skipped
        deadline.tick.set()
        return skipped >= float(seconds)

    def watch(self, execution: str, seconds: float) -> _Deadline:
        deadline = self._deadlines[execution] = _Deadline(seconds)
        return deadline

    def unwatch(self, execution: str) -> None:
        self._deadlines.pop(execution, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


CLOCK = SkippingClock()


def _execution_of(env: Any) -> str:
    return str(env.states.context_object.context_object_data.get("Execution", {}).get("Id", ""))


def install_time_skipping() -> SkippingClock:
    if once("clock"):
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
        from moto.stepfunctions.parser.asl.component.program.program import Program
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
        from moto.stepfunctions.parser.utils import TMP_THREADS

        retrier_decl.time = CLOCK  # type: ignore[assignment]

        def skip_wait(self: Any, env: Any, wait_seconds: int) -> None:
            # A Wait state waits on an event, not on sleep: skip it here.
            if not CLOCK.wait(_execution_of(env), wait_seconds):
                while env.is_running():  # the execution times out during this Wait: it never ends
                    env.program_state_event.wait(0.05)

        program_eval = Program.eval

        def eval_with_deadline(self: Any, env: Any) -> None:
            """moto's Program.eval, with the deadline on the execution's clock instead of a real-time join."""
            seconds = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
            execution = _execution_of(env)
            if seconds is None or env.is_frame() or not execution:
                program_eval(self, env)
                return
            deadline = CLOCK.watch(execution, seconds)
            ended: list[bool] = []

            def run() -> None:
                try:
                    EvalComponent.eval(self, env)
                finally:
                    ended.append(True)
                    deadline.tick.set()

            env.next_state_name = self.start_at.start_at_name
            worker = threading.Thread(target=run, daemon=True)
            TMP_THREADS.append(worker)
            worker.start()
            try:
                while True:
                    deadline.tick.clear()
                    if ended:
                        break
                    remaining = deadline.remaining()
                    if remaining <= 0:
                        env.set_timed_out()
                        break
                    deadline.tick.wait(remaining)
            finally:
                CLOCK.unwatch(execution)

        replace(wait_function.WaitFunction, "_wait_interval", skip_wait)
        replace(Program, "eval", eval_with_deadline)
    return CLOCK


# --- callbacks that finish before the waiter listens ----------------------------------------------
def install_callback_races() -> None:
    """moto opens a callback task's heartbeat endpoint only after the invoke returns, and its
    heartbeat loop checks for the outcome only after a heartbeat. An asynchronous agent can
    heartbeat, or even finish, before that. A heartbeat without an endpoint proves the agent
    alive (accept it), and an outcome that already arrived ends the wait at once."""
    if not once("callbacks"):
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_task,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatTimedOut

    original = CallbackEndpoint.notify_heartbeat

    def notify_heartbeat(self: Any) -> bool:
        return original(self) or self._heartbeat_endpoint is None

    def wait_with_heartbeats(self: Any, env: Any, callback_endpoint: Any, heartbeat_endpoint: Any) -> Any:
        outcome = callback_endpoint.get_outcome()
        while env.is_running() and outcome is None:
            received = heartbeat_endpoint.clear_and_wait()
            outcome = callback_endpoint.get_outcome()
            if outcome is None and not received and env.is_running():
                outcome = HeartbeatTimedOut()
        return outcome

    replace(CallbackEndpoint, "notify_heartbeat", notify_heartbeat)
    replace(callback_task.StateTaskServiceCallback, "_wait_for_task_token_heartbeat", wait_with_heartbeats)


# --- SendTaskFailure keeps its cause --------------------------------------------------------------
def install_task_failure_cause() -> None:
    """moto's SendTaskFailure handler drops ``cause``; the history should show it, as AWS does."""
    if not once("cause"):
        return
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    replace(StepFunctionResponse, "send_task_failure", send_task_failure)


# --- time scaling for timeouts and heartbeats -----------------------------------------------------
class TimeScale:
    """Multiplies every TimeoutSeconds and HeartbeatSeconds the interpreter waits on.

    1.0 (the default) is real time. A test of a 5-minute timeout sets 0.001 and waits 0.3 s;
    the ASL and the template stay exactly as deployed. ``per_state`` scales one state only
    (a day-long approval gate, without squeezing the compensations that follow it), and
    ``per_execution`` one execution, by name (concurrent tests on different clocks).
    """

    factor = 1.0
    per_state: dict[str, float] = {}  # one clock for the whole process
    per_execution: dict[str, float] = {}

    def of(self, state: str | None, execution: str | None = None) -> float:
        if state and state in self.per_state:
            return self.per_state[state]
        return self.per_execution.get(execution or "", self.factor)


TIME = TimeScale()


def install_time_scaling() -> TimeScale:
    if once("scale"):
        from moto.stepfunctions.parser.asl.component.common.timeouts import heartbeat, timeout

        def scaled(self: Any, env: Any) -> None:
            context = env.states.context_object.context_object_data
            state = context.get("State", {}).get("Name")
            execution = context.get("Execution", {}).get("Name")
            env.stack.append(self._eval_seconds(env=env) * TIME.of(state, execution))

        replace(timeout.Timeout, "_eval_body", scaled)
        replace(heartbeat.Heartbeat, "_eval_body", scaled)
    return TIME


# --- lambda:invoke keeps InvocationType -----------------------------------------------------------
def install_async_lambda_invoke() -> None:
    """AWS's lambda:invoke integration accepts ``InvocationType``; moto's drops it, so an
    ``Event`` (asynchronous) invoke would silently run synchronously inside the task."""
    if once("invocation-type"):
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_lambda as lambda_task,
        )

        lambda_task._SUPPORTED_API_PARAM_BINDINGS["invoke"].add("InvocationType")


# --- a fresh task token per attempt ---------------------------------------------------------------
def install_token_per_attempt() -> None:
    """On AWS every attempt of a callback task gets a new task token, and a token whose attempt
    timed out answers ``TaskTimedOut``. moto reuses one token across retries and never expires
    it, so a stalled first attempt could report for the third. Issue a token per attempt, expire
    the previous one, and expire an attempt's token when it times out."""
    if not once("tokens"):
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_task,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackTimeoutError,
        HeartbeatTimeoutError,
    )

    original = callback_task.StateTaskServiceCallback._eval_execution

    def expire(env: Any, token: str | None) -> None:
        endpoint = env.callback_pool_manager.get(token) if token else None
        if endpoint is not None:
            endpoint.report(CallbackConsumerTimeout())

    def eval_execution(self: Any, env: Any) -> None:
        callback = (
            self._is_integration_pattern()
            and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
        )
        context = env.states.context_object
        token = None
        if callback:
            # The token of this state's latest attempt (moto's context copy keeps the first one).
            if context.context_object_data["State"].get("RetryCount", 0) > 0:
                expire(env, self.__dict__.get("_stepsaga_token"))
                env.callback_pool_manager.add(context.update_task_token())
            token = context.context_object_data.get("Task", {}).get("Token")
            self.__dict__["_stepsaga_token"] = token
        try:
            original(self, env)
        except (HeartbeatTimeoutError, CallbackTimeoutError):
            # This attempt's own token: a retry may have issued the next one meanwhile.
            expire(env, token)
            raise

    replace(callback_task.StateTaskServiceCallback, "_eval_execution", eval_execution)


# --- task errors that can be raised ---------------------------------------------------------------
def install_task_errors() -> None:
    """moto's TaskTimedOut/TaskDoesNotExist cannot be constructed (no message, no error type),
    so SendTask* for an expired token crashed with a 500 instead of answering TaskTimedOut."""
    if not once("task-errors"):
        return
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for cls, message in ((api.TaskTimedOut, "Task Timed Out"), (api.TaskDoesNotExist, "Task Does Not Exist")):

        def __init__(self: Any, message: str = message, _name: str = cls.__name__) -> None:
            AWSError.__init__(self, message, exception_type=_name, status=400)

        replace(cls, "__init__", __init__)

    # moto tells a timed-out token from a vanished one with isinstance(error, CallbackConsumerTimeout)
    # on the *notify* error, which never matches: raise one that does, so SendTask* answers TaskTimedOut.
    from moto.stepfunctions.parser.asl.eval.callback import callback as callbacks

    class TimedOutNotify(callbacks.CallbackNotifyConsumerError, callbacks.CallbackConsumerTimeout):
        pass

    def answer_timeouts(method: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except callbacks.CallbackNotifyConsumerError as error:
                if isinstance(error.callback_consumer_error, callbacks.CallbackConsumerTimeout):
                    raise TimedOutNotify(error.callback_consumer_error) from error
                raise

        return wrapped

    replace(callbacks.CallbackPoolManager, "notify", answer_timeouts(callbacks.CallbackPoolManager.notify))
    replace(
        callbacks.CallbackPoolManager, "heartbeat", answer_timeouts(callbacks.CallbackPoolManager.heartbeat)
    )


# --- task tokens answered while another execution starts -----------------------------------------
def install_executions_with_environment() -> None:
    """SendTaskSuccess/Failure/Heartbeat (and the map run calls) look for the token in every execution's
    environment, which an execution still starting does not have yet: they raised AttributeError
    whenever another execution was starting. An execution without one holds no token: skip it."""
    if not once("executions-with-environment"):
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    executions = StepFunctionsParserBackend._get_executions

    def get_executions(self: Any, execution_status: Any = None) -> list[Any]:
        return [
            execution
            for execution in executions(self, execution_status)
            if getattr(getattr(execution, "exec_worker", None), "env", None) is not None
        ]

    replace(StepFunctionsParserBackend, "_get_executions", get_executions)


# --- what lambda:invoke reports of the Lambda service's errors --------------------------------------
def install_lambda_errors() -> None:
    """Step Functions invokes an unqualified function as its ``$LATEST`` version, and says so in the
    cause of ``Lambda.ResourceNotFoundException``; moto's cause names the bare function ARN."""
    if not once("lambda-errors"):
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda as lambda_task,
    )

    original = lambda_task.StateTaskServiceLambda._error_cause_from_client_error

    def error_cause(client_error: Any) -> tuple[str, str]:
        error, cause = original(client_error)
        prefix = "Function not found: "
        if error == "Lambda.ResourceNotFoundException" and cause.startswith(prefix):
            arn, _, rest = cause[len(prefix) :].partition(" ")
            if arn.count(":") == 6:  # arn:aws:lambda:region:account:function:name, no qualifier
                cause = f"{prefix}{arn}:$LATEST {rest}"
        return error, cause

    replace(lambda_task.StateTaskServiceLambda, "_error_cause_from_client_error", staticmethod(error_cause))


# --- what a failed iteration or branch hands to its Map or Parallel -------------------------------
def install_branch_failures() -> None:
    """A failed iteration or branch hands its error to the Map or Parallel by name; moto rebuilds the
    name as a custom one, which refuses the ``States.`` prefix, so a ``States.Timeout`` (or any error
    the engine raises) arrived as ``States.Runtime``: keep the engine's own names. And an error or
    cause that is null (SendTaskFailure without them) stays null, where moto dropped it, so that the
    catcher saw "" (what AWS binds only when the failure has no such field at all)."""
    if not once("branch-failures"):
        return
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        ILLEGAL_CUSTOM_ERROR_PREFIX,
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    def error_name(error_name: str | None) -> ErrorName:
        if error_name is not None and error_name.startswith(ILLEGAL_CUSTOM_ERROR_PREFIX):
            return StatesErrorName.from_name(error_name)  # an unknown States.* name still raises
        return CustomErrorName(error_name=error_name)

    for module in (iteration_worker, branches_decl):
        replace(module, "CustomErrorName", error_name)

    details = FailureEventException.get_execution_failed_event_details

    def execution_failed_event_details(self: Any) -> Any:
        found = details(self)
        if found is not None:
            failure = next(iter(self.failure_event.event_details.values()))
            for key in ("error", "cause"):
                if key in failure and failure[key] is None:
                    found[key] = None
        return found

    replace(FailureEventException, "get_execution_failed_event_details", execution_failed_event_details)


def install_uncatchable_runtime_errors() -> None:
    """``States.ALL`` matches neither ``States.Runtime`` nor ``States.DataLimitExceeded``: on AWS
    a retrier or catcher on ``States.ALL`` lets them through and the execution fails (a JSONPath
    to a missing field, an output over the payload limit). moto's wildcard matched every error,
    so a saga whose definition reads a path that is not there rolled back here and left its data
    behind on AWS."""
    if not once("uncatchable-runtime-errors"):
        return
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    wildcard = StatesErrorName(typ=StatesErrorNameType.StatesALL)
    terminal = (
        StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
        StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
    )
    stock = ErrorEqualsDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        if wildcard in self.error_names and env.stack and env.stack[-1] in terminal:
            env.stack.pop()
            env.stack.append(False)
            return None
        return stock(self, env)

    replace(ErrorEqualsDecl, "_eval_body", eval_body)


# --- aborted iterations and branches; nothing recorded once a task timed out or the execution ended
# The state a frame is in, by the event that enters it -> the event that aborts it (the others have none).
_ABORTED = {
    "TaskStateEntered": "TaskStateAborted",
    "MapStateEntered": "MapStateAborted",
    "ParallelStateEntered": "ParallelStateAborted",
    "WaitStateEntered": "WaitStateAborted",
}
_ENDS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
_OPEN = "_stepsaga_open"  # on a frame: the state entered there and not left (it failed, or still runs)
_SILENCED = "_stepsaga_silenced"  # on a frame's event context: what still runs there records nothing
_ENDED = "_stepsaga_ended"  # on an execution's event manager: its history is complete
_FAILED_JOBS = "_stepsaga_failed_jobs"  # on a Map's frame: the frames of its failed iterations
_opened = threading.local()  # the frame this thread opened last


def install_aborts() -> None:
    """When an iteration or a branch fails, AWS aborts the Map or Parallel's other iterations and
    branches (``MapIterationAborted``) and every state still open in them, the failed task included
    (``TaskStateAborted``); moto let the siblings run on, recording after the execution had ended.
    And a task's result that comes after it timed out, or after the execution ended, is not recorded."""
    if not once("aborts"):
        return
    from moto.stepfunctions.parser.api import HistoryEventType, MapIterationEventDetails
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component as inline,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import (
        IterationWorker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerTimeout
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

    add_event = EventManager.add_event

    def add_event_unless_over(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        if self.__dict__.get(_ENDED) or context.__dict__.get(_SILENCED):
            return int(context.last_published_event_id)  # dropped: that part of the run is over
        event_id = add_event(self, context, event_type, *args, **kwargs)
        if str(getattr(event_type, "value", event_type)) in _ENDS:
            self.__dict__[_ENDED] = True
        return int(event_id)

    def tree(frame: Any) -> list[Any]:
        """A frame and the frames still open below it, deepest first."""
        found = []
        for child in list(frame._frames):
            found += tree(child)
        return [*found, frame]

    def abort(frame: Any, iteration: str | None = None) -> None:
        """Stop what runs in ``frame`` and record the abort of every state open there (and of the
        iteration, named ``iteration``, if it was still running)."""
        running = isinstance(frame.program_state(), ProgramRunning)
        frames = tree(frame)
        for each in frames:
            each.event_history_context.__dict__[_SILENCED] = True
        frame.set_stop(datetime.datetime.now(), None, None)
        for each in frames:
            entered = getattr(each.__dict__.get(_OPEN), "state_entered_event_type", None)
            aborted = _ABORTED.get(str(getattr(entered, "value", entered)))
            if aborted is not None:
                add_event(each.event_manager, each.event_history_context, HistoryEventType(aborted))
        if iteration is not None and running:
            index = (
                frame.states.context_object.context_object_data.get("Map", {}).get("Item", {}).get("Index")
            )
            aborted_iteration = MapIterationEventDetails(name=iteration, index=index)
            details: Any = {"mapIterationAbortedEventDetails": aborted_iteration}
            add_event(
                frame.event_manager,
                frame.event_history_context,
                HistoryEventType.MapIterationAborted,
                details,
                update_source_event_id=False,
            )

    eval_state = CommonStateField._eval_body

    def eval_state_open(self: Any, env: Any) -> None:
        env.__dict__[_OPEN] = self
        eval_state(self, env)
        env.__dict__[_OPEN] = None  # left, or its error caught: nothing to abort

    stop_branch = BranchWorker.stop

    def stop_branch_aborting(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        if self.env is not None:
            abort(self.env)
        stop_branch(self, stop_date, cause, error)

    eval_job = IterationWorker._eval_job

    def eval_job_noting_failure(self: Any, env: Any, job: Any) -> None:
        eval_job(self, env, job)
        if isinstance(job.job_output, Exception):
            with _lock:
                self._env.__dict__.setdefault(_FAILED_JOBS, []).append(env)

    eval_iterations = inline.InlineIterationComponent._eval_body

    def eval_iterations_aborting(self: Any, env: Any) -> None:
        try:
            eval_iterations(self, env)
        except Exception:
            name = env.states.context_object.context_object_data.get("State", {}).get("Name")
            with _lock:
                failed = env.__dict__.pop(_FAILED_JOBS, [])
            for job_frame in failed:
                abort(job_frame)
            for worker_frame in list(env._frames):
                for job_frame in list(worker_frame._frames):
                    abort(job_frame, iteration=name)
                worker_frame.set_stop(datetime.datetime.now(), None, None)
            raise

    open_frame = Environment.open_frame

    def open_frame_noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        frame = _opened.frame = open_frame(self, *args, **kwargs)
        return frame

    evaluate_with_timeout = ExecutionState._evaluate_with_timeout

    def evaluate_with_timeout_silencing(self: Any, env: Any) -> None:
        try:
            evaluate_with_timeout(self, env)
        except EvalTimeoutError:
            # The attempt's frame (opened here, in this thread): what it still does is not recorded.
            attempt = getattr(_opened, "frame", None)
            if attempt is not None:
                for each in tree(attempt):
                    each.event_history_context.__dict__[_SILENCED] = True
            # And its task token (install_token_per_attempt's) answers TaskTimedOut from now on.
            token = self.__dict__.get("_stepsaga_token")
            endpoint = env.callback_pool_manager.get(token) if token else None
            if endpoint is not None:
                endpoint.report(CallbackConsumerTimeout())
            raise

    replace(EventManager, "add_event", add_event_unless_over)
    replace(CommonStateField, "_eval_body", eval_state_open)
    replace(BranchWorker, "stop", stop_branch_aborting)
    replace(IterationWorker, "_eval_job", eval_job_noting_failure)
    replace(inline.InlineIterationComponent, "_eval_body", eval_iterations_aborting)
    replace(Environment, "open_frame", open_frame_noted)
    replace(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout_silencing)


# --- waiting for an execution without polling -----------------------------------------------------
def install_completion_events() -> None:
    """Each execution worker sets an event when its program has ended, so callers wait on it
    instead of polling DescribeExecution (which, in one process, competes for the GIL with
    the very saga it waits for)."""
    if not once("completion"):
        return
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._execution_logic

    def execution_logic(self: Any) -> None:
        _announce(self)
        try:
            original(self)
        finally:
            _announce(self)
            _done_event(self).set()

    replace(ExecutionWorker, "_execution_logic", execution_logic)


# Listeners of "Step Functions Execution Status Change" events, which moto does not emit:
# each gets the event's ``detail`` (as EventBridge delivers it on AWS) at start and at end.
STATUS_LISTENERS: list[Callable[[dict[str, Any]], None]] = []


def _announce(worker: Any) -> None:
    if not STATUS_LISTENERS:
        return
    execution = getattr(getattr(worker, "_execution_communication", None), "execution", None)
    if execution is None:
        return
    status = execution.exec_status.value if execution.exec_status is not None else "RUNNING"
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": int(execution.start_date.timestamp() * 1000),
        "stopDate": int(execution.stop_date.timestamp() * 1000) if execution.stop_date else None,
        "input": json.dumps(execution.input_data) if hasattr(execution, "input_data") else None,
        "error": getattr(execution, "error", None),
        "cause": getattr(execution, "cause", None),
    }
    for listener in list(STATUS_LISTENERS):
        try:
            listener(detail)
        except Exception:  # a listener must never break the execution it observes
            _log.exception("status listener failed for %s", detail["executionArn"])


def _done_event(worker: Any) -> threading.Event:
    with _lock:
        event = worker.__dict__.get("_stepsaga_done")
        if event is None:
            event = worker.__dict__["_stepsaga_done"] = threading.Event()
        return event


def wait_for_completion(execution_arn: str, timeout: float, account: str, region: str) -> bool:
    """Block until the execution's program has ended (False if it did not within ``timeout``)."""
    from moto.stepfunctions.responses import get_backend

    execution = get_backend(account, region).describe_execution(execution_arn)
    worker = getattr(execution, "exec_worker", None)
    if worker is None:
        return True
    return _done_event(worker).wait(timeout)


# --- nested sagas: startExecution(.sync:2) --------------------------------------------------------
def install_nested_executions() -> None:
    """moto leaves the Step Functions integration's parameter and response casing stubbed, so
    ``states:startExecution.sync:2`` fails (KeyError 'StateMachineArn'). Map the ASL's
    PascalCase parameters onto botocore's member names, answer in PascalCase as AWS does,
    and poll children every 20 ms instead of every 500 ms."""
    if not once("nested"):
        return
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_task,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    model = botocore.session.get_session().get_service_model("stepfunctions")
    members: dict[str, dict[str, str]] = {}
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        members[botocore.xform_name(operation)] = {m.lower(): m for m in (shape.members if shape else {})}
    parent_normalise = StateTaskServiceSfn._normalise_parameters

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        parent_normalise(self, parameters, boto_service_name, service_action_name)
        names = members.get(service_action_name or self._get_boto_service_action(), {})
        for key in list(parameters):
            if key.lower() in names and names[key.lower()] != key:
                parameters[names[key.lower()]] = parameters.pop(key)

    def normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        if isinstance(response, dict):
            for key in list(response):
                value = response.pop(key)
                if isinstance(value, datetime.datetime):  # a task result carries dates as epoch millis
                    value = round(value.timestamp() * 1000)
                elif key.lower() in ("inputdetails", "outputdetails") and isinstance(value, dict):
                    value = {k[:1].upper() + k[1:]: v for k, v in value.items()}
                response[key[:1].upper() + key[1:]] = value
            if (service_action_name or self._get_boto_service_action()) == "describe_execution":
                # moto's DescribeExecution omits inputDetails; AWS includes it whenever it has the input.
                for data, details in (("Input", "InputDetails"), ("Output", "OutputDetails")):
                    if data in response:
                        response.setdefault(details, {"Included": True})

    replace(StateTaskServiceSfn, "_normalise_parameters", normalise_parameters)
    replace(StateTaskServiceSfn, "_normalise_response", normalise_response)
    callback_task._DELAY_SECONDS_SYNC_CONDITION_CHECK = 0.02  # type: ignore[misc]


# --- executions started without a name ----------------------------------------------------------
def install_execution_names() -> None:
    """AWS names an execution started without ``name`` with a UUID; moto names it "None", so the
    second unnamed start of a machine (a nested child's, typically) is refused as ExecutionAlreadyExists."""
    if not once("execution-names"):
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    replace(StepFunctionsParserBackend, "start_execution", start_execution)


# --- ast.parse one thread at a time (moto's string literals, tracebacks) ------------------------------
_AST_PARSE = threading.RLock()  # re-entrant: a finalizer run by the GC mid-parse may parse too
# How long a parse waits for its turn before going ahead alone (as stock Python would): a
# finalizer run mid-parse by the collector may wait on a lock whose holder is about to parse.
_AST_PARSE_WAIT = 1.0


def install_serial_ast_parsing() -> None:
    """Every ``ast.parse`` in the process, one thread at a time.

    CPython 3.11 keeps the AST conversion's recursion depth per interpreter, not per thread: two
    threads in ``ast.parse`` at once can fail one of them with "AST constructor recursion depth
    mismatch". Here two kinds of thread parse: moto's ASL parser unescapes every string literal
    it evaluates with ``ast.literal_eval`` (a state then fails with ``States.Runtime``), and
    Python 3.11's traceback module parses each source line it underlines (``^^^``), which a
    failing handler's error report does. Both reach the module's ``parse``, so it takes turns;
    a parse kept waiting ``_AST_PARSE_WAIT`` goes ahead alone rather than risk a deadlock.
    """
    if not once("serial-ast-parsing"):
        return
    import ast

    stock = ast.parse

    @wraps(stock)
    def parse(*args: Any, **kwargs: Any) -> Any:
        if not _AST_PARSE.acquire(timeout=_AST_PARSE_WAIT):
            return stock(*args, **kwargs)
        try:
            return stock(*args, **kwargs)
        finally:
            _AST_PARSE.release()

    replace(ast, "parse", parse)


# --- speed (off with SPEED: the same answers, computed once) --------------------------------------
def install_programs_parsed_once() -> None:
    if not once("programs-parsed-once"):
        return
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # Parsed programs, by definition: each execution evaluates its own copy, because
    # components may keep state while they run. Unpickling is the cheap deep copy.
    programs: dict[str, bytes | None] = {}
    parse_entrypoint = ExecutionWorker._get_evaluation_entrypoint

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        if not SPEED.enabled or programs.get(definition, b"") is None:
            return parse_entrypoint(self)  # off, or a program that does not pickle: parse it
        pickled = programs.get(definition)
        if pickled is None:
            program = parse_entrypoint(self)
            try:
                programs[definition] = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                programs[definition] = None
            return program  # this execution's own: the cache keeps only the pickle
        return pickle.loads(pickled)

    replace(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)


def install_clients_once() -> None:
    if not once("clients-once"):
        return
    from moto.stepfunctions.parser.asl.utils import boto_client

    # boto3 clients, by (region, service, endpoint): creating one costs ~6 ms.
    stock_client_for = boto_client.boto_client_for
    clients: dict[tuple[str, str, bool], Any] = {}

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if not SPEED.enabled:
            return stock_client_for(region=region, service=service, state_credentials=state_credentials)
        key = (region, service, boto_client.botocore_stubber.enabled)
        found = clients.get(key)
        if found is None:
            with _clients_lock:
                found = clients.get(key) or stock_client_for(region=region, service=service)
                clients[key] = found
        return found

    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is stock_client_for
        ):
            replace(module, "boto_client_for", client_for)


def install_jsonpath_once() -> None:
    if not once("jsonpath-once"):
        return
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # moto's JSONPath helper, and ResultPath, which imports jsonpath_ng's parse itself. A
    # compiled expression is immutable: update_or_create changes the data it is given.
    for module in (json_path, result_path):
        stock_parse = module.parse
        cached_parse = lru_cache(maxsize=4096)(stock_parse)

        def parse(path: str, stock: Any = stock_parse, cached: Any = cached_parse) -> Any:
            return cached(path) if SPEED.enabled else stock(path)

        replace(module, "parse", parse)


# JSON copied by type, not by copy.deepcopy's generic protocol (memo, dispatch, reductions): 3-4x
# cheaper per copy (2.7x over a happy saga's copies, many of them one string).
_ATOMS = frozenset({str, int, float, bool, type(None)})  # immutable: shared, as deepcopy shares them
_PLAIN_OBJECTS: set[type] = set()  # moto's program states (Environment.program_state, per state)


def _plain(cls: type) -> bool:
    """Whether copy.deepcopy copies instances of ``cls`` by its default reduction alone:
    ``cls.__new__(cls)``, then the instance's ``__dict__`` deep-copied into it."""
    return (
        cls.__new__ is object.__new__
        and cls not in copyreg.dispatch_table
        and all(
            getattr(cls, name, None) is getattr(object, name, None)
            for name in ("__reduce_ex__", "__reduce__", "__getstate__", "__setstate__")
        )
        and not any(hasattr(cls, name) for name in ("__deepcopy__", "__getnewargs_ex__", "__getnewargs__"))
        and not any(getattr(base, "__slots__", ()) for base in cls.__mro__)
        and "__dict__" in dir(cls)
    )


def _json_copy(value: Any) -> Any:
    cls = type(value)
    if cls is dict:
        return {
            (key if type(key) is str else copy.deepcopy(key)): (
                item if type(item) in _ATOMS else _json_copy(item)
            )
            for key, item in value.items()
        }
    if cls is list:
        return [item if type(item) in _ATOMS else _json_copy(item) for item in value]
    if cls in _ATOMS:
        return value
    if cls in _PLAIN_OBJECTS:  # as copy.deepcopy's default reduction: a new one, its __dict__ copied
        copied = object.__new__(cls)
        copied.__dict__.update(_json_copy(value.__dict__))
        return copied
    return copy.deepcopy(value)  # a tuple, a datetime, an enum, a dict subclass: as stock


def json_copy(value: Any) -> Any:
    """``copy.deepcopy(value)`` for JSON values: dicts, lists, str, int, float, bool and None are
    copied here, anything else by ``copy.deepcopy`` (that subtree alone, with a memo of its own).

    Unlike deepcopy, a dict or list reached twice is copied twice: the copy shares nothing. That is
    what AWS has, where a state's values travel between states as JSON text, so no state can observe
    that two places hold one object; moto's interpreter builds its values by ``json.loads`` and by
    these copies. A cycle (never in JSON) or a document nested too deep for the recursion limit
    raises RecursionError here: then it is copy.deepcopy's, as stock (which keeps the cycle, or
    fails as stock does on a document that deep: both recurse two frames per level)."""
    try:
        return _json_copy(value)
    except RecursionError:
        return copy.deepcopy(value)


class _JsonCopying:
    """The ``copy`` module as the interpreter modules in ``JSON_COPIES`` see it: their deepcopy is
    ``json_copy`` while SPEED is on."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if memo is None and SPEED.enabled:
            return json_copy(value)
        return copy.deepcopy(value, memo)


# The interpreter's modules whose ``copy.deepcopy`` copies JSON values (a state's input, result,
# context, parameters, stack; a history's events), with every function that calls it there and
# the sha256 of its source for the upgrade guard (``test_upgrade_guard`` also checks that no other
# function there calls it). Left stock: the deep copies of
# objects (state machines in models and provider, the ItemReader's and ResultWriter's
# declarations, Map jobs) and alias routing lists (read once per start).
JSON_COPIES: dict[str, dict[str, str | None]] = {
    "moto.stepfunctions.parser.asl.eval.states": {
        "States._extract": "9ab6dac771c565c5d4d70b6d83e120ea7af542f87ef6bfae9ecb7ebd5be0829d",
        "States.reset": "3026ea3d76899e69e85ceede9bd79fe186843ed076d10290f08bef5c5d1eab96",
        "States.set_result": "29f5a51aba3313244525a0bfc91c08d0fbb6e4e08a44eb7db64d220ebca784ac",
        "States.set_error_output": "ae3d6c4590b240014e390fa037e273c9e53eb5cf2ed038fcc718a17bb39a80d4",
    },
    "moto.stepfunctions.parser.asl.component.common.string.string_expression": {
        "StringJsonPath._eval_body": "392229c667fcb57adf981c349c2f7e9101034404257a08d4cb6e4e598e6398f9",
        "StringContextPath._eval_body": "6c082012d91adff7ba4c34ff84a4c5bd79fb79bd7d86218c84efe4035d6f682b",
    },
    "moto.stepfunctions.parser.asl.component.common.path.result_path": {
        "ResultPath._eval_body": "a6d93b4e5a332fadf256032411a32a39e24fdbf8080462c6c037bfe11c195081",
    },
    # A frame's State context is JSON; the program state an object of _PLAIN_OBJECTS.
    "moto.stepfunctions.parser.asl.eval.environment": {
        "Environment.as_inner_frame_of": "eb77183cac4a4c77ebc02537efb678d0083267ef149c32638ec1dc4d9eabfa81",
        "Environment.program_state": "51a3ae2d979f9facddac09d164ba0d30f792a213c8fed23d787528a4f60248cc",
    },
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state": {
        "ExecutionState._evaluate_with_timeout": None,  # in PATCHED, with its other patch
    },
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel": {
        "StateParallel._eval_state": "1d86cbe57c7641265acb5ff7ce8141530d364d6a4f596d1c1402656f0f985487",
    },
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map": {
        "StateMap._eval_execution": "fb4daa9ac528b07c3f951f8cba60531eaead8483afb125079952c60d800e80c2",
    },
    (
        "moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction"
        ".json_manipulation.json_merge"
    ): {
        "JsonMerge._eval_body": "145debf9e66eb9be8501ab8d4e2d8df953528ddaec2f2d8acd16d93e09e19c42",
    },
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service": {
        "StateTaskService._eval_execution": None,  # in PATCHED, with its other patch
    },
    # Events: their timestamps (datetimes) and types (enums) are copy.deepcopy's.
    "moto.stepfunctions.parser.asl.eval.event.event_manager": {
        "EventManager._create_history_log": (
            "6f10500470402f71e535260d3dbe514f5d674edc6a5e6894a15e0328552dc77b"
        ),
        "EventManager.get_event_history": "d42caf342c6e20c131caee8d5a312215b55dfc934cadc1a916d4cbbccadaf1f2",
    },
}


def install_json_copies() -> None:
    if not once("json-copies"):
        return
    import importlib

    from moto.stepfunctions.parser.asl.eval import program_state

    _PLAIN_OBJECTS.update(
        cls
        for cls in vars(program_state).values()
        if isinstance(cls, type) and issubclass(cls, program_state.ProgramState) and _plain(cls)
    )
    for name in JSON_COPIES:
        module = importlib.import_module(name)
        if module.copy is not copy:
            raise RuntimeError(f"{name}.copy is not the copy module: another patch replaced it")
        replace(module, "copy", _JsonCopying)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
_JSON_ONLY = "that its copy.deepcopy still copies JSON values only, where no one compares identities"
PATCHED = {
    "moto.stepfunctions.parser.asl.antlt4utils.antlr4utils.from_string_literal": Pinned(
        "516a21a5607ff5c986681e5880e8465c6093dcda042263c2b903058a716b4c4e",
        "install_serial_ast_parsing",
        "that it still unescapes literals with ast.literal_eval (which calls ast.parse)",
        replaced=False,
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction"
        "._wait_interval"
    ): Pinned(
        "8f954dee80372b4b8233918f4d94810949f402cb3ddd2361ef4cbd9719d02253",
        "install_time_skipping",
        "how a Wait state waits",
    ),
    "moto.stepfunctions.parser.asl.component.program.program.Program.eval": Pinned(
        "6d701880064a8970c3a40375b8708af4ea22b6054dd6ac2fe9be295270b62f2b",
        "install_time_skipping",
        "the program's evaluation is copied, its real-time join replaced by the execution's clock",
    ),
    "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.RetrierDecl._eval_body": Pinned(
        "48463fff19cefa98cfb054311706ba47abfe813da0e65ce1a6376a9101f35f09",
        "install_time_skipping",
        "that a retry still sleeps with the module's time.sleep",
        replaced=False,
    ),
    "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackEndpoint.notify_heartbeat": Pinned(
        "838bf10119e4371e4346ec7f5b1047d74e0d25f448a1a46e8e03131be8bc8d55",
        "install_callback_races",
        "what it answers for a heartbeat before the endpoint exists",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
        ".state_task_service_callback.StateTaskServiceCallback._wait_for_task_token_heartbeat"
    ): Pinned(
        "156c1dac9685af62276ff0b1d4ee7e565d1d84bf8b2a86eaa86ad7c2dfa4bbaa",
        "install_callback_races",
        "the heartbeat loop is copied: port any change",
    ),
    "moto.stepfunctions.responses.StepFunctionResponse.send_task_failure": Pinned(
        "f0fed5e805768377c3886da87839f8dc3ea37bdaa5a64bab13da2784b5e00304",
        "install_task_failure_cause",
        "whether moto now passes the cause itself",
    ),
    "moto.stepfunctions.parser.asl.component.common.timeouts.timeout.Timeout._eval_body": Pinned(
        "5c5f336e8ba14d64e058d2c73f680c1f946ba37ccc93b58867f8f8196512afe1",
        "install_time_scaling",
        "that it pushes the seconds _eval_seconds computes",
    ),
    "moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat.Heartbeat._eval_body": Pinned(
        "5c5f336e8ba14d64e058d2c73f680c1f946ba37ccc93b58867f8f8196512afe1",
        "install_time_scaling",
        "that it pushes the seconds _eval_seconds computes",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
        ".StateTaskService._eval_execution"
    ): Pinned(
        "81a8da94bfdb59ff86e77e39aa16ccec4d2ad3654e26bfe5d06e65b5e0769242",
        "install_token_per_attempt, install_json_copies",
        "where the task token is issued and how a heartbeat or task timeout is raised; " + _JSON_ONLY,
    ),
    "moto.core.exceptions.AWSError.__init__": Pinned(
        "45ec5b202f9fd4e425ad9c0b04a5c9ca5ad057c81a38b8d6b40ec3b37d709367",
        "install_task_errors",
        "its parameters",
    ),
    "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackPoolManager.notify": Pinned(
        "244536ab931eb3b817e7d5bfb46f77946393cf4f158e230f0423063e8afbdcc1",
        "install_task_errors",
        "the error it raises for a timed-out token",
    ),
    "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackPoolManager.heartbeat": Pinned(
        "b816a1b1ca234405b38f4963aadef939cf6497a51cd744cd4df15950d49f4e54",
        "install_task_errors",
        "the error it raises for a timed-out token",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda"
        ".StateTaskServiceLambda._error_cause_from_client_error"
    ): Pinned(
        "ebcbb8bd6a4f5c088f2d4d9a995b9cd1485c7a16a22da968586334180627a9eb",
        "install_lambda_errors",
        "the cause it builds from the Lambda service's error",
    ),
    "moto.stepfunctions.parser.models.StepFunctionsParserBackend._get_executions": Pinned(
        "99c66bbf9dd987f228bb924b66520497b1969ad9e334431bb69ef5cc552c1ca4",
        "install_executions_with_environment",
        "that its callers (send_task_*, map runs) still only read executions' environments",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker"
        ".IterationWorker._eval_job"
    ): Pinned(
        "5f736d9451fe0d18ffb9954ee6c213236b202c952a5c3660423a37d977dfa86b",
        "install_branch_failures, install_aborts",
        "that a failed iteration's error name is still built with the module's CustomErrorName, and that "
        "a failed iteration leaves an exception in job_output",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl"
        ".BranchesDecl._eval_body"
    ): Pinned(
        "eec2efa5fe001389c3347c247d4202b646d2c9bab48c1885c4226fc3d098151e",
        "install_branch_failures",
        "that a failed branch's error name is still built with the module's CustomErrorName",
        replaced=False,
    ),
    (
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event.FailureEventException"
        ".get_execution_failed_event_details"
    ): Pinned(
        "cc932b747488ae7a44155c48cb6acb9a56504374d2374f003824c98b9f44a992",
        "install_branch_failures",
        "which error and cause fields it drops",
    ),
    (
        "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl.ErrorEqualsDecl"
        "._eval_body"
    ): Pinned(
        "aeda14a0cc01747d7fe2e620ba35c9c78b43178fbb03665b8578c206f196b019",
        "install_uncatchable_runtime_errors",
        "that it still pops the error name and pushes whether it matched (the wildcard is the patch's)",
    ),
    ("moto.stepfunctions.parser.asl.eval.event.event_manager.EventManager.add_event"): Pinned(
        "cb430fa2e3fed3e889bc5fc4a648275417eb214a55252d2495e5242cf2e53ecd",
        "install_aborts",
        "the events it writes and what it returns",
    ),
    ("moto.stepfunctions.parser.asl.component.state.state.CommonStateField._eval_body"): Pinned(
        "035f80caae1290dce90fa4b78c03ef33a32c2f78759e0328078ea70bf593b805",
        "install_aborts",
        "that a state left normally, or whose error was caught, returns; an uncaught one raises",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker.BranchWorker.stop"
    ): Pinned(
        "701c66a7086b5f556484f78e97cd8a121f3c4f4844401deea7c4e2f87c8eeda5",
        "install_aborts",
        "that the Parallel stops every branch through it when one fails",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_co"
        "mponent.InlineIterationComponent._eval_body"
    ): Pinned(
        "1a65306eb3ca39613329fbd297cf90660b1b8caf779809ae9f66258158ca54da",
        "install_aborts",
        "that a failed iteration raises here, with the workers' frames still open on env",
    ),
    ("moto.stepfunctions.parser.asl.eval.environment.Environment.open_frame"): Pinned(
        "8f92128841c55d0611e556dab8c1488230872d9007104c9e262ba7160347f7fc",
        "install_aborts",
        "that it returns the frame it opened",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.execute_state.ExecutionState._evaluate_"
        "with_timeout"
    ): Pinned(
        "c56deda08a42e98d3958bfb2ab95de74c7ec7a515085614a80e1ea4948722485",
        "install_aborts, install_json_copies",
        "that a timed-out attempt raises EvalTimeoutError, its frame opened by this thread; " + _JSON_ONLY,
    ),
    "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._execution_logic": Pinned(
        "baa3e2a48fd228d951b7b443e34acffcd060721f17c184df43db83ec0c0ffd25",
        "install_completion_events",
        "that it returns when the execution has ended",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn"
        ".StateTaskServiceSfn._normalise_parameters"
    ): Pinned(
        "d75d3da19aad01fb6166a22a30955b50a9c0f5c5da6707e492f9757c455bcb6c",
        "install_nested_executions",
        "whether moto now maps the parameters' casing",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
        ".StateTaskService._normalise_response"
    ): Pinned(
        "00e0b0a50b1dd4baea457d318dcc88928f27a633d3383c6224ae47c17eedbc87",
        "install_nested_executions",
        "whether moto now answers in PascalCase",
    ),
    "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint": Pinned(
        "2b25949ae855da8035b347b28ac72f90d7d6542bf26ef7e1f03a50ce6a981fde",
        "install_programs_parsed_once",
        "that the program depends on the definition alone",
    ),
    "moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for": Pinned(
        "1f44dc2ac8aa2179df62365a6e5ea377f1770ea828a0f107440a2554f1b4edb8",
        "install_clients_once",
        "that a client depends on the region and service alone",
    ),
}
PATCHED.update(
    (f"{module}.{function}", Pinned(sha256, "install_json_copies", _JSON_ONLY, replaced=False))
    for module, functions in JSON_COPIES.items()
    for function, sha256 in functions.items()
    if sha256 is not None
)
