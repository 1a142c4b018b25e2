"""Small adaptations that turn moto into an embedded stack running the deployed template.

Each ``install_*`` bridges one gap listed in DESIGN.md section 4, is idempotent, and has its
own test in ``tests/functional/test_adapters.py``. They touch moto internals, which is why
moto is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

import hashlib
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

# Re-exported: bench/ and tests switch ``adapters.SPEED``.
from stepsaga.embedded.speed import SPEED as SPEED
from stepsaga.embedded.speed import install_speedups as install_speedups

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

        def skip_wait(self: Any, env: Any, wait_seconds: int) -> None:
            CLOCK.sleep(wait_seconds)  # a Wait state waits on an event, not on sleep: skip it here

        wait_function.WaitFunction._wait_interval = skip_wait  # type: ignore[method-assign]
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
    if _once("scale"):
        from moto.stepfunctions.parser.asl.component.common.timeouts import heartbeat, timeout

        def scaled(self: Any, env: Any) -> None:
            context = env.states.context_object.context_object_data
            state = context.get("State", {}).get("Name")
            execution = context.get("Execution", {}).get("Name")
            env.stack.append(self._eval_seconds(env=env) * TIME.of(state, execution))

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


# --- 11. speed: see stepsaga.embedded.speed ------------------------------------------------------


# --- 12. DynamoDB transactions: atomic, and rolled back key by key ---------------------------
_TRANSACTIONS = threading.RLock()


def install_dynamodb_transactions() -> None:
    """moto backs up every table a transaction touches (a deep copy per item written, so the
    cost grows with everything stored) and rolls back by putting the whole copy back, which
    also discards what concurrent sagas wrote meanwhile. Transactions here are serialised,
    remember only the items they touch, and roll back exactly those."""
    if not _once("transactions"):
        return
    import copy

    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend, get_filter_expression

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with _TRANSACTIONS:
            touched: dict[tuple[str, str], tuple[str, dict[str, Any], Any]] = {}

            def rollback() -> None:
                for table_name, key, previous in touched.values():
                    table = self.get_table(table_name)
                    hash_value, range_value = self.get_keys_value(table, key)
                    table.delete_item(hash_value, range_value)
                    if previous is not None:
                        if range_value:
                            table.items[hash_value][range_value] = previous
                        else:
                            table.items[hash_value] = previous

            errors: list[tuple[Any, Any, Any]] = []
            for entry in transact_items:
                original_item = None
                if len(entry) > 1:
                    raise TransactWriteSingleOpException
                try:
                    op_type, op = next(iter(entry.items()))
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    condition = op.get("ConditionExpression")
                    names = op.get("ExpressionAttributeNames")
                    values = op.get("ExpressionAttributeValues")
                    if op_type == "Put":
                        table = self.get_table(table_name)
                        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                        if table.range_key_attr is not None:
                            key[table.range_key_attr] = op["Item"][table.range_key_attr]
                    else:
                        key = op["Key"]
                    marker = (table_name, json.dumps(key, sort_keys=True))
                    if marker in touched:
                        raise MultipleTransactionsException()
                    current = self.get_item(table_name, key)
                    touched[marker] = (table_name, key, copy.deepcopy(current) if current else None)
                    if condition is not None and not get_filter_expression(condition, names, values).expr(
                        current
                    ):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                    arguments = {
                        "condition_expression": condition,
                        "expression_attribute_names": names,
                        "expression_attribute_values": values,
                    }
                    if op_type == "Put":
                        self.put_item(table_name, op["Item"], **arguments)
                    elif op_type == "Delete":
                        self.delete_item(table_name, key, **arguments)
                    elif op_type == "Update":
                        self.update_item(
                            table_name, key, update_expression=op["UpdateExpression"], **arguments
                        )
                    errors.append((None, None, None))
                except (MultipleTransactionsException, MockValidationException):
                    rollback()
                    raise
                except ConditionalCheckFailed as error:
                    errors.append(("ConditionalCheckFailed", str(error.message), original_item))
                except Exception as error:
                    errors.append((type(error).__name__, str(error), original_item))
            if any(code is not None for code, _, _ in errors):
                rollback()
                raise TransactionCanceledException(errors)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    # moto checks a write's condition, then applies it: two threads can both pass the check.
    # Serialise single-item writes with transactions, so a condition holds when it is applied.
    def serialised(method: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _TRANSACTIONS:
                return method(self, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))


# --- 13. waiting for an execution without polling -------------------------------------------
def install_completion_events() -> None:
    """Each execution worker sets an event when its program has ended, so callers wait on it
    instead of polling DescribeExecution (which, in one process, competes for the GIL with
    the very saga it waits for)."""
    if not _once("completion"):
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


# --- 14. versions and aliases in CloudFormation -----------------------------------------------
def install_cfn_versions() -> None:
    """moto's CloudFormation publishes Lambda versions but returns no ARN for them, and knows
    no Step Functions versions or aliases. Model all three, so the template that pins code
    versions and a ``live`` alias deploys unchanged; StartExecution accepts the alias ARN."""
    if not _once("versions"):
        return
    from moto.awslambda.models import LambdaVersion
    from moto.awslambda.models import get_backend as lambda_backend
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import get_backend

    def create_lambda_version(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        function = lambda_backend(account_id, region_name).publish_version(
            cloudformation_json["Properties"]["FunctionName"]
        )
        assert function is not None
        version = LambdaVersion({"Version": function.version})  # type: ignore[abstract]
        version.arn = function.function_arn  # type: ignore[attr-defined]  # already qualified: ...:function:name:N
        return version

    LambdaVersion.create_from_cloudformation_json = classmethod(create_lambda_version)  # type: ignore[method-assign,assignment]
    LambdaVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]

    class ArnResource:
        """Ref and GetAtt Arn both answer the resource's ARN."""

        def __init__(self, arn: str) -> None:
            self.arn = arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

    # Direct subclasses of CloudFormationModel: that is how moto finds resource types.
    class StateMachineVersionModel(ArnResource, CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::StepFunctions::StateMachineVersion"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            machine = get_backend(account_id, region_name).describe_state_machine(
                properties["StateMachineArn"]
            )
            machine.publish(properties.get("Description"))
            assert machine.latest_version is not None
            return cls(machine.latest_version.arn)

    class StateMachineAliasModel(ArnResource, CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::StepFunctions::StateMachineAlias"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            routing = [
                {"stateMachineVersionArn": r["StateMachineVersionArn"], "weight": int(r["Weight"])}
                for r in properties["RoutingConfiguration"]
            ]
            alias = get_backend(account_id, region_name).create_state_machine_alias(
                properties["Name"], routing, properties.get("Description")
            )
            return cls(alias.arn)

    from moto.stepfunctions.models import StateMachine

    has_attr, get_attr = StateMachine.has_cfn_attr, StateMachine.get_cfn_attribute

    def has_cfn_attr(cls: Any, attr: str) -> bool:
        return attr in ("StateMachineRevisionId", "Arn") or has_attr.__func__(cls, attr)  # type: ignore[attr-defined]

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "StateMachineRevisionId":  # a new revision whenever the definition changes
            return (
                getattr(self, "revision_id", None)
                or hashlib.sha256(self.definition.encode()).hexdigest()[:32]
            )
        if attribute_name == "Arn":
            return self.arn
        return get_attr(self, attribute_name)

    StateMachine.has_cfn_attr = classmethod(has_cfn_attr)  # type: ignore[method-assign,assignment]
    StateMachine.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        parts = state_machine_arn.split(":")
        if len(parts) == 8 and not parts[-1].isnumeric():  # an alias (moto executes no versions):
            machine = self.describe_state_machine(":".join(parts[:-1]))
            if parts[-1] in machine.aliases:  # run the machine it routes to, as deployed
                state_machine_arn = machine.arn
        return start(self, state_machine_arn, *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


# --- 15. nested sagas: startExecution(.sync:2) ------------------------------------------------
def install_nested_executions() -> None:
    """moto leaves the Step Functions integration's parameter and response casing stubbed, so
    ``states:startExecution.sync:2`` fails (KeyError 'StateMachineArn'). Map the ASL's
    PascalCase parameters onto botocore's member names, answer in PascalCase as AWS does,
    and poll children every 20 ms instead of every 500 ms."""
    if not _once("nested"):
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


# --- 16. queries read their partition, not the whole table -----------------------------------
_PARTITION = threading.local()


def install_partition_queries() -> None:
    """moto answers every Query by sorting every item of the table, then filtering on the
    partition key, so a query costs as much as the table is large (thousands of items after
    a test session or one wide saga). A base-table query reads only its own partition."""
    if not _once("partition"):
        return
    import inspect

    from moto.dynamodb.models.table import Table

    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def partition_items(self: Any) -> Any:
        only = getattr(_PARTITION, "key", None)
        if only is None or only[0] is not self:
            return all_items(self)
        found = self.items.get(only[1])
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: x.range_key) if self.range_key_attr else items

    def partition_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if index_name or hash_key is None:
            return query(self, *args, **kwargs)
        _PARTITION.key = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            _PARTITION.key = None

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]


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
    install_speedups()
    install_dynamodb_transactions()
    install_completion_events()
    install_cfn_versions()
    install_nested_executions()
    install_partition_queries()
