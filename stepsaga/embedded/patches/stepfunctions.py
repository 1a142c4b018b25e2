"""Step Functions as AWS runs the sagas: callbacks and task tokens, errors and causes, nested
executions, a clock tests can skip or scale, and an event per execution's end instead of polling."""

from __future__ import annotations

import json
import logging
import pickle
import sys
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from stepsaga.embedded.patches.once import once
from stepsaga.embedded.patches.speed import SPEED

_log = logging.getLogger("stepsaga.embedded")
_lock = threading.Lock()  # guards each execution worker's done event
_clients_lock = threading.RLock()  # guards the client cache


# --- time skipping --------------------------------------------------------------------------------
class SkippingClock:
    """Stands in for the ``time`` module where moto waits between retries and in Wait states.

    ``sleep`` returns at once and adds to ``skipped``; everything else is the real clock.
    Task and execution timeouts are unaffected (they wait on events, not on sleep).
    """

    def __init__(self) -> None:
        self.skipped = 0.0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, float(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


CLOCK = SkippingClock()


def install_time_skipping() -> SkippingClock:
    if once("clock"):
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

        retrier_decl.time = CLOCK  # type: ignore[assignment]

        def skip_wait(self: Any, env: Any, wait_seconds: int) -> None:
            CLOCK.sleep(wait_seconds)  # a Wait state waits on an event, not on sleep: skip it here

        wait_function.WaitFunction._wait_interval = skip_wait  # type: ignore[method-assign]
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

    CallbackEndpoint.notify_heartbeat = notify_heartbeat  # type: ignore[method-assign]
    callback_task.StateTaskServiceCallback._wait_for_task_token_heartbeat = wait_with_heartbeats  # type: ignore[method-assign]


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

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


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

        timeout.Timeout._eval_body = scaled  # type: ignore[method-assign]
        heartbeat.Heartbeat._eval_body = scaled  # type: ignore[method-assign]
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
    it, so a stalled first attempt could report for the third. Issue a token per attempt and
    expire the previous one."""
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
        if callback:
            # The token of this state's latest attempt (moto's context copy keeps the first one).
            if context.context_object_data["State"].get("RetryCount", 0) > 0:
                expire(env, self.__dict__.get("_stepsaga_token"))
                env.callback_pool_manager.add(context.update_task_token())
            self.__dict__["_stepsaga_token"] = context.context_object_data.get("Task", {}).get("Token")
        try:
            original(self, env)
        except HeartbeatTimeoutError:
            if callback:
                expire(env, self.__dict__.get("_stepsaga_token"))
            raise

    callback_task.StateTaskServiceCallback._eval_execution = eval_execution  # type: ignore[method-assign]


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

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

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

    callbacks.CallbackPoolManager.notify = answer_timeouts(callbacks.CallbackPoolManager.notify)  # type: ignore[method-assign]
    callbacks.CallbackPoolManager.heartbeat = answer_timeouts(callbacks.CallbackPoolManager.heartbeat)  # type: ignore[method-assign]


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

    ExecutionWorker._execution_logic = execution_logic  # type: ignore[method-assign]


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
                if key[:1].islower():
                    response[key[0].upper() + key[1:]] = response.pop(key)

    StateTaskServiceSfn._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = normalise_response  # type: ignore[method-assign]
    callback_task._DELAY_SECONDS_SYNC_CONDITION_CHECK = 0.02  # type: ignore[misc]


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

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


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
            module.boto_client_for = client_for  # type: ignore[attr-defined]


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

        module.parse = parse  # type: ignore[attr-defined]
