"""Small adaptations that turn moto into an embedded stack running the deployed template.

Each ``install_*`` bridges one gap listed in DESIGN.md section 4, is idempotent, and has its
own test in ``tests/functional/test_adapters.py``. They touch moto internals, which is why
moto is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

_log = logging.getLogger("stepsaga.embedded")
_installed: set[str] = set()
_lock = threading.RLock()


def _once(name: str) -> bool:
    with _lock:
        if name in _installed:
            return False
        _installed.add(name)
        return True


# --- 1. per-thread environment ---------------------------------------------------------
class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay: each in-process Lambda sees its own variables.

    Reads check the current thread's overlay first; writes outside an overlay go to the real
    environment, so the rest of the process is unaffected.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @contextmanager
    def overlay(self, variables: dict[str, str]) -> Iterator[None]:
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        yield from overlay
        yield from (k for k in self._base if k not in overlay)

    def __len__(self) -> int:
        return len(set(self._base) | set(self._overlay() or {}))

    def copy(self) -> dict[str, str]:
        return dict(self)

    # os._Environ API some libraries use
    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def install_thread_environ() -> ThreadEnviron:
    if _once("environ"):
        os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - the point
    return os.environ  # type: ignore[return-value]


# --- 2. in-process Lambda ---------------------------------------------------------------
class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools use."""

    def __init__(self, function: Any) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "embedded"
        self._deadline = time.monotonic() + float(function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_handlers: dict[str, Callable[[Any, Any], Any]] = {}
# Variables every in-process Lambda sees on top of its own (set by EmbeddedStack).
RUNTIME_ENV: dict[str, str] = {}
# Invocations so far, by function name (tests assert on them; cheap enough to keep).
INVOCATIONS: dict[str, int] = {}


def resolve_handler(path: str) -> Callable[[Any, Any], Any]:
    """``functions.handlers.requirements.handler`` -> the function object (imported once)."""
    found = _handlers.get(path)
    if found is None:
        module, _, attribute = path.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        _handlers[path] = found
    return found


def call_in_process(function: Any, event: Any) -> tuple[Any, bool]:
    """Run a deployed function's handler with its own environment; (result, errored)."""
    environ = install_thread_environ()
    variables = {
        **function.environment_vars,
        **RUNTIME_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
    }
    with _lock:
        INVOCATIONS[function.function_name] = INVOCATIONS.get(function.function_name, 0) + 1
    with environ.overlay(variables):
        try:
            return resolve_handler(function.handler)(event, LambdaContext(function)), False
        except Exception as error:  # the Lambda runtime's contract: report, don't raise
            return {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-3:],
            }, True


def _call_async(function: Any, event: Any) -> None:
    result, errored = call_in_process(function, event)
    if errored:  # nobody waits for an async result: log it, as CloudWatch Logs would show it
        _log.error("async invoke of %s failed: %s", function.function_name, json.dumps(result))


def install_inprocess_lambda() -> None:
    if not _once("lambda"):
        return
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = self.get_function(function_name, qualifier)
        event = json.loads(body) if body else {}
        if (headers.get("X-Amz-Invocation-Type") or "RequestResponse") == "Event":
            # Asynchronous invoke: accepted at once, the handler runs on its own thread.
            thread = threading.Thread(target=_call_async, args=(function, event), daemon=True)
            thread.start()
            return b""
        result, errored = call_in_process(function, event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


# --- 3. CloudFormation state machines on the executing backend --------------------------
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` as CloudFormation does (``${Key}`` placeholders)."""
    # Not string.Template: it would also turn ASL's "$$" (the context object) into "$".
    return _PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), definition)


def install_cfn_state_machines() -> None:
    if not _once("cfn"):
        return
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend
    from moto.stepfunctions.utils import cfn_to_api_tags

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        if not isinstance(definition, str):
            definition = json.dumps(definition)
        definition = substitute(definition, properties.get("DefinitionSubstitutions", {}))
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
            sm_type=properties.get("StateMachineType", "STANDARD"),
            loggingConfiguration=None,
            tracingConfiguration=None,
        )

    def delete(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]


# --- 4. time skipping --------------------------------------------------------------------
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
    if _once("clock"):
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

        retrier_decl.time = CLOCK  # type: ignore[assignment]
        wait_function.time = CLOCK  # type: ignore[assignment]
    return CLOCK


# --- 5. callbacks that finish before the waiter listens ----------------------------------
def install_callback_races() -> None:
    """moto opens a callback task's heartbeat endpoint only after the invoke returns, and its
    heartbeat loop checks for the outcome only after a heartbeat. An asynchronous agent can
    heartbeat, or even finish, before that. A heartbeat without an endpoint proves the agent
    alive (accept it), and an outcome that already arrived ends the wait at once."""
    if not _once("callbacks"):
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


# --- 6. SendTaskFailure keeps its cause -------------------------------------------------
def install_task_failure_cause() -> None:
    """moto's SendTaskFailure handler drops ``cause``; the history should show it, as AWS does."""
    if not _once("cause"):
        return
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


# --- 7. time scaling for timeouts and heartbeats ----------------------------------------
class TimeScale:
    """Multiplies every TimeoutSeconds and HeartbeatSeconds the interpreter waits on.

    1.0 (the default) is real time. A test of a 5-minute timeout sets 0.001 and waits 0.3 s;
    the ASL and the template stay exactly as deployed.
    """

    factor = 1.0


TIME = TimeScale()


def install_time_scaling() -> TimeScale:
    if _once("scale"):
        from moto.stepfunctions.parser.asl.component.common.timeouts import heartbeat, timeout

        def scaled(self: Any, env: Any) -> None:
            env.stack.append(self._eval_seconds(env=env) * TIME.factor)

        timeout.Timeout._eval_body = scaled  # type: ignore[method-assign]
        heartbeat.Heartbeat._eval_body = scaled  # type: ignore[method-assign]
    return TIME


# --- 8. lambda:invoke keeps InvocationType ------------------------------------------------
def install_async_lambda_invoke() -> None:
    """AWS's lambda:invoke integration accepts ``InvocationType``; moto's drops it, so an
    ``Event`` (asynchronous) invoke would silently run synchronously inside the task."""
    if _once("invocation-type"):
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_lambda as lambda_task,
        )

        lambda_task._SUPPORTED_API_PARAM_BINDINGS["invoke"].add("InvocationType")


# --- 9. a fresh task token per attempt -----------------------------------------------------
def install_token_per_attempt() -> None:
    """On AWS every attempt of a callback task gets a new task token, and a token whose attempt
    timed out answers ``TaskTimedOut``. moto reuses one token across retries and never expires
    it, so a stalled first attempt could report for the third. Issue a token per attempt and
    expire the previous one."""
    if not _once("tokens"):
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

    def expire(env: Any) -> None:
        token = env.states.context_object.context_object_data.get("Task", {}).get("Token")
        endpoint = env.callback_pool_manager.get(token) if token else None
        if endpoint is not None:
            endpoint.report(CallbackConsumerTimeout())

    def eval_execution(self: Any, env: Any) -> None:
        callback = (
            self._is_integration_pattern()
            and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
        )
        if callback and env.states.context_object.context_object_data["State"].get("RetryCount", 0) > 0:
            expire(env)
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        try:
            original(self, env)
        except HeartbeatTimeoutError:
            if callback:
                expire(env)
            raise

    callback_task.StateTaskServiceCallback._eval_execution = eval_execution  # type: ignore[method-assign]


# --- 10. task errors that can be raised -----------------------------------------------------
def install_task_errors() -> None:
    """moto's TaskTimedOut/TaskDoesNotExist cannot be constructed (no message, no error type),
    so SendTask* for an expired token crashed with a 500 instead of answering TaskTimedOut."""
    if not _once("task-errors"):
        return
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for cls, message in ((api.TaskTimedOut, "Task Timed Out"), (api.TaskDoesNotExist, "Task Does Not Exist")):

        def __init__(self: Any, message: str = message, _name: str = cls.__name__) -> None:
            AWSError.__init__(self, message, exception_type=_name, status=400)

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]


def install_all() -> None:
    install_thread_environ()
    install_inprocess_lambda()
    install_cfn_state_machines()
    install_time_skipping()
    install_callback_races()
    install_task_failure_cause()
    install_time_scaling()
    install_async_lambda_invoke()
    install_token_per_attempt()
    install_task_errors()
