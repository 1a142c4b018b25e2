"""One test (at least) per correctness patch in ``stepsaga.embedded.patches``: each asserts the behaviour
the patch adds to moto, so it fails without it. Small state machines and functions are created
with boto3 under ``mock_aws``; the handlers live in ``handlers_for_tests``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepsaga.embedded import patches
from stepsaga.embedded.patches import awslambda, cloudformation, stepfunctions
from tests.functional import handlers_for_tests as handlers

pytestmark = pytest.mark.functional

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
HANDLERS = "tests.functional.handlers_for_tests"
TERMINAL_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")
CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "# the in-process adapter imports the real handler\n")
    return buffer.getvalue()


def _until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Run:
    status: str
    output: Any
    events: list[dict[str, Any]]
    seconds: float

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    @property
    def last(self) -> dict[str, Any]:
        return self.events[-1]

    def details(self, event: dict[str, Any]) -> dict[str, Any]:
        return next(value for key, value in event.items() if key.endswith("EventDetails"))


class Aws:
    """boto3 clients on the mock, plus the few steps every test repeats."""

    def __init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self._code = _zip()
        self._count = 0
        # moto's Lambda checks that the execution role exists.
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = boto3.client("iam", region_name=REGION)
        # mock_aws nested inside the session's embedded stack keeps its state
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))

    def function(self, name: str, handler: str, variables: dict[str, str] | None = None) -> str:
        response = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=ROLE,
            Handler=f"{HANDLERS}.{handler}",
            Code={"ZipFile": self._code},
            Timeout=30,
            Environment={"Variables": variables or {}},
        )
        return str(response["FunctionArn"])

    def machine(self, name: str, states: dict[str, Any]) -> str:
        definition = {"StartAt": next(iter(states)), "States": states}
        response = self.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
        return str(response["stateMachineArn"])

    def start(self, machine_arn: str, document: Any = None, name: str | None = None) -> str:
        self._count += 1
        response = self.sfn.start_execution(
            stateMachineArn=machine_arn,
            name=name or f"run-{self._count}",
            input=json.dumps(document if document is not None else {}),
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 10.0, started: float | None = None) -> Run:
        """Until the execution is over and its terminal event is the last one in the history."""
        began = time.monotonic() if started is None else started

        def finished() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] == "RUNNING":
                return None
            events = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
            return (described, events) if events and events[-1]["type"] in TERMINAL_EVENTS else None

        try:
            described, events = _until(finished, timeout, f"{execution_arn} to finish")
        except AssertionError as error:
            history = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
            raise AssertionError(f"{error}; history: {[event['type'] for event in history]}") from None
        seconds = time.monotonic() - began
        output = json.loads(described["output"]) if described.get("output") else None
        return Run(described["status"], output, events, seconds)

    def run(self, machine_arn: str, document: Any = None, timeout: float = 10.0) -> Run:
        began = time.monotonic()
        return self.wait(self.start(machine_arn, document), timeout, started=began)

    def stop_running(self) -> None:
        for machine in self.sfn.list_state_machines()["stateMachines"]:
            listed = self.sfn.list_executions(stateMachineArn=machine["stateMachineArn"])
            for execution in listed["executions"]:
                if execution["status"] == "RUNNING":
                    self.sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    # Under mock_aws requests never leave the process: an endpoint would send them elsewhere.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    runtime_env = dict(awslambda.RUNTIME_ENV)
    awslambda.RUNTIME_ENV.clear()
    handlers.reset()
    mock = mock_aws(
        config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    )
    mock.start()
    patches.install()
    clients = Aws()
    try:
        yield clients
    finally:
        handlers.RELEASE.set()  # no handler thread outlives the test blocked
        try:
            clients.stop_running()
        finally:
            _remove_test_resources(clients)
            mock.stop()
            awslambda.RUNTIME_ENV.clear()
            awslambda.RUNTIME_ENV.update(runtime_env)


def _remove_test_resources(clients: Aws) -> None:
    """Nested inside the session's embedded stack, mock_aws keeps its state between tests:
    remove what these tests made (everything that is not the deployed StepSaga stack)."""
    for stack in clients.cfn.describe_stacks()["Stacks"]:
        if stack["StackName"] != "StepSaga":
            clients.cfn.delete_stack(StackName=stack["StackName"])
    for machine in clients.sfn.list_state_machines()["stateMachines"]:
        if not machine["name"].startswith("StepSaga-"):
            clients.sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])
    for function in clients.lam.list_functions()["Functions"]:
        if not function["FunctionName"].startswith("StepSaga-"):
            clients.lam.delete_function(FunctionName=function["FunctionName"])


@pytest.fixture(autouse=True)
def _reset_globals() -> Iterator[None]:
    yield
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS.clear()  # moto keeps every waiter thread otherwise
    stepfunctions.TIME.factor = 1.0


def _callback_task(function_arn: str, payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {"FunctionName": function_arn, "Payload": {"token.$": "$$.Task.Token", **payload}},
        "End": True,
        **fields,
    }


# --- awslambda: per-thread environment ------------------------------------------------------------
def test_thread_environ_overlays_are_per_thread_and_never_leak() -> None:
    environ = awslambda.install_thread_environ()
    assert os.environ is environ
    assert isinstance(os.environ, awslambda.ThreadEnviron)
    assert "STEPSAGA_PROBE" not in os.environ
    inside: dict[str, Any] = {}
    entered, leave = threading.Event(), threading.Event()

    def lambda_thread() -> None:
        with environ.overlay({"STEPSAGA_PROBE": "lambda"}):
            os.environ["STEPSAGA_WRITTEN"] = "by-handler"  # a write inside the overlay stays there
            inside["probe"] = os.environ["STEPSAGA_PROBE"]
            inside["getenv"] = os.getenv("STEPSAGA_PROBE")
            inside["listed"] = "STEPSAGA_PROBE" in list(os.environ) and "STEPSAGA_PROBE" in os.environ.copy()
            inside["base_visible"] = os.environ.get("AWS_REGION")
            entered.set()
            leave.wait(5)
        inside["after"] = os.environ.get("STEPSAGA_PROBE")

    worker = threading.Thread(target=lambda_thread)
    worker.start()
    try:
        assert entered.wait(5)
        # While the other thread is inside its overlay, this thread sees none of it.
        assert os.environ.get("STEPSAGA_PROBE") is None
        assert "STEPSAGA_WRITTEN" not in os.environ
    finally:
        leave.set()
        worker.join(5)
    assert inside == {
        "probe": "lambda",
        "getenv": "lambda",
        "listed": True,
        "base_visible": os.environ.get("AWS_REGION"),
        "after": None,
    }
    assert "STEPSAGA_WRITTEN" not in os.environ
    # Outside any overlay, writes reach the real environment (the rest of the process).
    os.environ["STEPSAGA_REAL"] = "yes"
    try:
        assert environ._base["STEPSAGA_REAL"] == "yes"
    finally:
        del os.environ["STEPSAGA_REAL"]
    assert "STEPSAGA_REAL" not in environ._base


def test_concurrent_lambdas_each_see_their_own_variables(aws: Aws) -> None:
    aws.function("probe-one", "env_probe", {"PROBE": "one"})
    aws.function("probe-two", "env_probe", {"PROBE": "two"})
    event = {"keys": ["PROBE", "AWS_LAMBDA_FUNCTION_NAME"], "pause": 0.2}

    def invoke(name: str) -> dict[str, Any]:
        response = aws.lam.invoke(FunctionName=name, Payload=json.dumps(event))
        return dict(json.loads(response["Payload"].read()))

    with ThreadPoolExecutor(2) as pool:
        one, two = pool.map(invoke, ["probe-one", "probe-two"])
    # Each read twice across the other's overlapping run: always its own values.
    expected_one = {"PROBE": "one", "AWS_LAMBDA_FUNCTION_NAME": "probe-one"}
    expected_two = {"PROBE": "two", "AWS_LAMBDA_FUNCTION_NAME": "probe-two"}
    assert one == {"first": expected_one, "second": expected_one, "function": "probe-one"}
    assert two == {"first": expected_two, "second": expected_two, "function": "probe-two"}
    assert "PROBE" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


# --- awslambda: in-process Lambda -----------------------------------------------------------------
def test_lambda_invoke_runs_the_handler_in_process(aws: Aws) -> None:
    aws.function("echo", "echo")
    before = awslambda.INVOCATIONS.get("echo", 0)
    response = aws.lam.invoke(FunctionName="echo", Payload=json.dumps({"hello": ["world", 1]}))
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"hello": ["world", 1]}
    assert awslambda.INVOCATIONS["echo"] == before + 1


def test_lambda_handler_error_is_reported_as_the_runtime_does(aws: Aws) -> None:
    aws.function("boom", "boom")
    response = aws.lam.invoke(FunctionName="boom", Payload=json.dumps({"why": "testing"}))
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "Kaboom"
    assert payload["errorMessage"] == "boom: testing"
    assert isinstance(payload["stackTrace"], list)


def test_lambda_error_names_the_request_and_only_the_handlers_frames_under_var_task(aws: Aws) -> None:
    aws.function("boom", "boom")
    response = aws.lam.invoke(FunctionName="boom", Payload=json.dumps({"why": "testing"}))
    payload = json.loads(response["Payload"].read())
    assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert str(uuid.UUID(payload["requestId"])) == payload["requestId"]
    assert payload["stackTrace"], "the handler's frames"
    assert all(
        frame.startswith('  File "/var/task/tests/functional/handlers_for_tests.py"')
        for frame in payload["stackTrace"]
    ), payload["stackTrace"]


def test_lambda_result_in_bytes_is_passed_through(aws: Aws) -> None:
    aws.lam.create_function(
        FunctionName="bytes",
        Runtime="python3.13",
        Role=ROLE,
        Handler="tests.conformance.handlers.large_bytes",
        Code={"ZipFile": _zip()},
    )
    payload = aws.lam.invoke(FunctionName="bytes", Payload=b"{}")["Payload"].read()
    assert payload[:3] == b"aaa"
    assert len(payload) > 256 * 1024


def test_lambda_event_invoke_returns_at_once_and_runs_on_a_thread(aws: Aws) -> None:
    aws.function("slow", "slow")
    response = aws.lam.invoke(FunctionName="slow", InvocationType="Event", Payload=json.dumps({"n": 7}))
    assert response["StatusCode"] == 202
    assert handlers.ASYNC_DONE == []  # the handler is still blocked: the invoke did not wait
    handlers.RELEASE.set()
    done = _until(lambda: handlers.ASYNC_DONE, what="the asynchronous handler")
    assert done == [{"event": {"n": 7}, "released": True}]


def test_lambda_task_error_type_becomes_the_state_error(aws: Aws) -> None:
    echo = aws.function("echo", "echo")
    boom = aws.function("boom", "boom")
    machine = aws.machine(
        "lambda-errors",
        {
            "Echo": {"Type": "Task", "Resource": echo, "Next": "Boom"},
            "Boom": {"Type": "Task", "Resource": boom, "End": True},
        },
    )
    run = aws.run(machine, {"why": "in a state machine"})
    assert run.status == "FAILED"
    succeeded = run.details(run.of_type("LambdaFunctionSucceeded")[0])
    assert json.loads(succeeded["output"]) == {"why": "in a state machine"}
    failed = run.details(run.last)
    assert failed["error"] == "Kaboom"
    assert json.loads(failed["cause"])["errorMessage"] == "boom: in a state machine"


# --- cloudformation: CloudFormation state machines on the executing backend -----------------------
def test_substitute_applies_placeholders_and_keeps_the_context_object() -> None:
    definition = '{"R": "${FnArn}", "n.$": "$$.Execution.Name", "u": "${Unknown}", "k": "$.x"}'
    assert cloudformation.substitute(definition, {"FnArn": "arn:fn", "Other": 1}) == (
        '{"R": "arn:fn", "n.$": "$$.Execution.Name", "u": "${Unknown}", "k": "$.x"}'
    )


def test_cloudformation_state_machine_runs_with_substitutions(aws: Aws) -> None:
    echo = aws.function("echo", "echo")
    definition = json.dumps(
        {
            "StartAt": "Echo",
            "States": {
                "Echo": {
                    "Type": "Task",
                    "Resource": "${FnArn}",
                    "Parameters": {"execution.$": "$$.Execution.Name", "greeting.$": "$.greeting"},
                    "End": True,
                }
            },
        }
    )
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "from-cfn",
                    "RoleArn": ROLE,
                    "DefinitionString": definition,
                    "DefinitionSubstitutions": {"FnArn": echo},
                },
            }
        }
    }
    aws.cfn.create_stack(StackName="adapters", TemplateBody=json.dumps(template))
    resources = aws.cfn.describe_stack_resources(StackName="adapters")["StackResources"]
    machine = resources[0]["PhysicalResourceId"]
    deployed = json.loads(aws.sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    assert deployed["States"]["Echo"]["Resource"] == echo
    assert deployed["States"]["Echo"]["Parameters"]["execution.$"] == "$$.Execution.Name"

    began = time.monotonic()
    run = aws.wait(aws.start(machine, {"greeting": "hi"}, name="cfn-run-1"), started=began)
    assert run.status == "SUCCEEDED"
    assert run.output == {"execution": "cfn-run-1", "greeting": "hi"}

    aws.cfn.delete_stack(StackName="adapters")
    remaining = [m["stateMachineArn"] for m in aws.sfn.list_state_machines()["stateMachines"]]
    assert machine not in remaining


# --- stepfunctions: time skipping -----------------------------------------------------------------
def test_retry_intervals_are_skipped_not_slept(aws: Aws) -> None:
    boom = aws.function("boom", "boom")
    retry = [{"ErrorEquals": ["Kaboom"], "IntervalSeconds": 100, "MaxAttempts": 2, "BackoffRate": 2.0}]
    machine = aws.machine(
        "retry-skip", {"Boom": {"Type": "Task", "Resource": boom, "Retry": retry, "End": True}}
    )
    clock = stepfunctions.install_time_skipping()
    skipped = clock.skipped
    run = aws.run(machine)
    assert run.status == "FAILED"
    assert run.details(run.last)["error"] == "Kaboom"
    assert len(run.of_type("LambdaFunctionScheduled")) == 3  # the first attempt and two retries
    assert clock.skipped - skipped == pytest.approx(300.0)  # 100 s, then 200 s: never slept
    assert run.seconds < 10


def test_wait_state_is_skipped_not_slept(aws: Aws) -> None:
    machine = aws.machine("wait-skip", {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}})
    clock = stepfunctions.install_time_skipping()
    skipped = clock.skipped
    run = aws.run(machine)
    assert run.status == "SUCCEEDED"
    assert clock.skipped - skipped == pytest.approx(1.0)
    assert run.seconds < 0.9


def test_a_wait_past_the_execution_timeout_times_the_execution_out(aws: Aws) -> None:
    definition = {
        "TimeoutSeconds": 5,
        "StartAt": "Pause",
        "States": {"Pause": {"Type": "Wait", "Seconds": 60, "End": True}},
    }
    machine = aws.sfn.create_state_machine(
        name="wait-deadline", definition=json.dumps(definition), roleArn=ROLE
    )
    run = aws.run(machine["stateMachineArn"])
    assert run.status == "TIMED_OUT"
    assert [event["type"] for event in run.events] == [
        "ExecutionStarted",
        "WaitStateEntered",
        "ExecutionTimedOut",
    ]
    assert run.seconds < 2  # the Wait skipped to the deadline, not slept


def test_a_wait_within_the_execution_timeout_ends_as_usual(aws: Aws) -> None:
    definition = {
        "TimeoutSeconds": 60,
        "StartAt": "Pause",
        "States": {"Pause": {"Type": "Wait", "Seconds": 59, "End": True}},
    }
    machine = aws.sfn.create_state_machine(
        name="wait-in-time", definition=json.dumps(definition), roleArn=ROLE
    )
    assert aws.run(machine["stateMachineArn"]).status == "SUCCEEDED"


# --- stepfunctions: callbacks that finish before the waiter listens -------------------------------
def test_heartbeat_sent_before_the_waiter_listens_is_accepted(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "early-heartbeat",
        {"Wait": _callback_task(agent, {"heartbeat": True, "mode": "succeed"}, HeartbeatSeconds=3)},
    )
    run = aws.run(machine)
    assert handlers.HEARTBEATS == ["ok"]  # not InvalidToken: no heartbeat endpoint existed yet
    assert run.status == "SUCCEEDED"
    assert run.output == {"answered": handlers.TOKENS[0][:8]}


def test_outcome_sent_before_the_waiter_listens_ends_the_wait_at_once(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "early-outcome", {"Wait": _callback_task(agent, {"mode": "succeed"}, HeartbeatSeconds=3)}
    )
    run = aws.run(machine)
    assert run.status == "SUCCEEDED"  # moto: a heartbeat timeout (States.Timeout) after 3 s
    assert run.output == {"answered": handlers.TOKENS[0][:8]}


# --- stepfunctions: SendTaskFailure keeps its cause -----------------------------------------------
def test_send_task_failure_keeps_its_cause(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "failure-cause",
        {"Wait": _callback_task(agent, {"mode": "fail", "error": "Nope", "cause": "because reasons"})},
    )
    run = aws.run(machine)
    assert run.status == "FAILED"
    task_failed = run.details(run.of_type("TaskFailed")[0])
    assert (task_failed["error"], task_failed["cause"]) == ("Nope", "because reasons")
    assert (run.details(run.last)["error"], run.details(run.last)["cause"]) == ("Nope", "because reasons")


# --- stepfunctions: time scaling for timeouts and heartbeats --------------------------------------
def test_timeout_seconds_are_scaled(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "scaled-timeout", {"Wait": _callback_task(agent, {"mode": "none"}, TimeoutSeconds=2000)}
    )
    # 2000 s -> 2 s (long enough for the invoke to return first: a task that times out
    # mid-invoke gets a TaskSubmitted event after ExecutionFailed in moto)
    stepfunctions.TIME.factor = 0.001
    run = aws.run(machine)
    assert run.status == "FAILED"
    assert run.details(run.last)["error"] == "States.Timeout"
    assert 1.9 < run.seconds < 10
    deployed = json.loads(aws.sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    assert deployed["States"]["Wait"]["TimeoutSeconds"] == 2000  # the ASL itself is unchanged


def test_one_execution_can_run_on_its_own_clock(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine("own-clock", {"Wait": _callback_task(agent, {"mode": "none"}, TimeoutSeconds=2000)})
    stepfunctions.TIME.per_execution["fast-clock"] = 0.001  # 2000 s -> 2 s for this execution only
    slow = aws.start(machine, name="real-clock")  # first: a clock shared by both would end it first
    began = time.monotonic()
    fast = aws.start(machine, name="fast-clock")
    run = aws.wait(fast, started=began)  # within the wait's 10 s
    assert run.status == "FAILED"
    assert run.details(run.last)["error"] == "States.Timeout"
    assert aws.sfn.describe_execution(executionArn=slow)["status"] == "RUNNING"  # still on 2000 s
    aws.sfn.stop_execution(executionArn=slow)


def test_heartbeat_seconds_are_scaled(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "scaled-heartbeat",
        {"Wait": _callback_task(agent, {"mode": "none"}, HeartbeatSeconds=300, TimeoutSeconds=8000)},
    )
    stepfunctions.TIME.factor = 0.001  # heartbeat 300 s -> 0.3 s; timeout 8000 s -> 8 s
    run = aws.run(machine)
    assert run.status == "FAILED"
    assert run.details(run.last)["error"] == "States.Timeout"  # moto names heartbeat timeouts so
    assert run.seconds < 6  # the heartbeat, not the (scaled) task timeout, ended it


# --- stepfunctions: lambda:invoke keeps InvocationType --------------------------------------------
def test_lambda_invoke_integration_keeps_invocation_type_event(aws: Aws) -> None:
    slow = aws.function("slow", "slow")
    machine = aws.machine(
        "async-invoke",
        {
            "Fire": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": slow, "InvocationType": "Event", "Payload": {"from": "sfn"}},
                "End": True,
            }
        },
    )
    run = aws.run(machine)
    assert run.status == "SUCCEEDED"
    assert run.output["StatusCode"] == 202
    assert handlers.ASYNC_DONE == []  # the task did not wait for the handler
    handlers.RELEASE.set()
    done = _until(lambda: handlers.ASYNC_DONE, what="the asynchronous handler")
    assert done == [{"event": {"from": "sfn"}, "released": True}]


# --- stepfunctions: a fresh task token per attempt ------------------------------------------------
def _retried_callback(aws: Aws, name: str, failures: int) -> str:
    agent = aws.function("agent", "callback")
    retry = [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": failures}]
    payload = {"mode": "fail_first", "attempt.$": "$$.State.RetryCount", "failures": failures}
    machine = aws.machine(name, {"Wait": _callback_task(agent, payload, Retry=retry, TimeoutSeconds=30)})
    return aws.start(machine)


def test_each_attempt_gets_a_new_token_and_the_old_one_is_refused(aws: Aws) -> None:
    execution = _retried_callback(aws, "token-per-attempt", failures=1)
    _until(lambda: len(handlers.TOKENS) == 2, what="the second attempt")
    first, second = handlers.TOKENS
    assert first != second
    with pytest.raises(ClientError) as raised:
        aws.sfn.send_task_heartbeat(taskToken=first)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist")
    aws.sfn.send_task_heartbeat(taskToken=second)  # the live attempt's token still works
    aws.sfn.send_task_success(taskToken=second, output=json.dumps({"attempt": 1}))
    run = aws.wait(execution)
    assert run.status == "SUCCEEDED"
    assert run.output == {"attempt": 1}
    assert [run.details(e)["error"] for e in run.of_type("TaskFailed")] == ["Transient"]


def test_old_attempt_token_answers_task_timed_out(aws: Aws) -> None:
    _retried_callback(aws, "token-timed-out", failures=1)
    _until(lambda: len(handlers.TOKENS) == 2, what="the second attempt")
    with pytest.raises(ClientError) as raised:
        aws.sfn.send_task_heartbeat(taskToken=handlers.TOKENS[0])
    assert raised.value.response["Error"]["Code"] == "TaskTimedOut"


def test_third_attempt_expires_the_second_attempts_token(aws: Aws) -> None:
    _retried_callback(aws, "token-third-attempt", failures=2)
    _until(lambda: len(handlers.TOKENS) == 3, what="the third attempt")
    assert len(set(handlers.TOKENS)) == 3
    with pytest.raises(ClientError) as raised:
        aws.sfn.send_task_heartbeat(taskToken=handlers.TOKENS[1])
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _stall_then_wait(aws: Aws, name: str, **stall: Any) -> tuple[str, str, str]:
    """A callback task nobody answers, caught into a second one: (execution, stalled, waiting)."""
    agent = aws.function("agent", "callback")
    stalls = {
        **_callback_task(agent, {"mode": "none"}, **stall),
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Waits", "ResultPath": "$.error"}],
    }
    del stalls["End"]
    stalls["Next"] = "Waits"
    waits = _callback_task(agent, {"mode": "none"}, TimeoutSeconds=20000)
    machine = aws.machine(name, {"Stalls": stalls, "Waits": waits})
    stepfunctions.TIME.factor = 0.001  # the first task gives up within 0.3 s; the second waits 20 s
    execution = aws.start(machine)
    _until(lambda: len(handlers.TOKENS) == 2, what="the second task")
    stalled, waiting = handlers.TOKENS
    return execution, stalled, waiting


def test_token_of_a_heartbeat_timed_out_attempt_is_expired(aws: Aws) -> None:
    execution, stalled, waiting = _stall_then_wait(
        aws, "heartbeat-expiry", HeartbeatSeconds=300, TimeoutSeconds=5000
    )
    with pytest.raises(ClientError) as raised:
        aws.sfn.send_task_heartbeat(taskToken=stalled)  # moto would accept it: never expired
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    aws.sfn.send_task_success(taskToken=waiting, output=json.dumps({"done": True}))
    run = aws.wait(execution)
    assert run.status == "SUCCEEDED"
    assert run.output == {"done": True}
    assert run.details(run.of_type("TaskTimedOut")[0])["error"] == "States.Timeout"


def test_token_of_a_timed_out_attempt_is_expired(aws: Aws) -> None:
    _, stalled, _ = _stall_then_wait(aws, "timeout-expiry", TimeoutSeconds=300)
    with pytest.raises(ClientError) as raised:
        aws.sfn.send_task_heartbeat(taskToken=stalled)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- stepfunctions: task errors that can be raised ------------------------------------------------
@pytest.mark.parametrize(
    ("name", "message"), [("TaskTimedOut", "Task Timed Out"), ("TaskDoesNotExist", "Task Does Not Exist")]
)
def test_task_errors_can_be_constructed(name: str, message: str) -> None:
    stepfunctions.install_task_errors()
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    error = getattr(api, name)()
    assert isinstance(error, AWSError)
    assert (error.error_type, error.message, error.code) == (name, message, 400)


def test_send_task_for_an_expired_token_answers_400_not_500(aws: Aws) -> None:
    execution = _retried_callback(aws, "expired-token-400", failures=1)
    _until(lambda: len(handlers.TOKENS) == 2, what="the second attempt")
    first, second = handlers.TOKENS
    for send in (
        lambda: aws.sfn.send_task_heartbeat(taskToken=first),
        lambda: aws.sfn.send_task_success(taskToken=first, output="{}"),
        lambda: aws.sfn.send_task_failure(taskToken=first, error="Late", cause="too late"),
    ):
        with pytest.raises(ClientError) as raised:
            send()
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert raised.value.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist")
    aws.sfn.send_task_success(taskToken=second, output=json.dumps({"late": False}))
    assert aws.wait(execution).output == {"late": False}


# --- dynamodb: transactions and conditional writes ------------------------------------------------
@pytest.fixture
def table(aws: Aws) -> Iterator[tuple[Any, str, Any]]:
    """A fresh (pk, sk) table: the boto3 client, its name and moto's table object."""
    from moto.dynamodb.models import dynamodb_backends

    ddb = boto3.client("dynamodb", region_name=REGION)
    name = f"adapters-{aws._count}-{time.monotonic_ns()}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield ddb, name, dynamodb_backends[ACCOUNT][REGION].get_table(name)
    finally:
        ddb.delete_table(TableName=name)


def _item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}


def test_a_cancelled_transaction_keeps_what_others_wrote_meanwhile(
    table: tuple[Any, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto rolls back by putting back a copy of every table the transaction touched, which
    discards a write another saga made to the same table while the transaction ran."""
    from moto.dynamodb.models import DynamoDBBackend

    ddb, name, _ = table
    ddb.put_item(TableName=name, Item=_item("saga", "step", state="DONE"))
    inside, other_done = threading.Event(), threading.Event()
    get_item = DynamoDBBackend.get_item

    def slow_get_item(self: Any, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if keys.get("sk") == {"S": "step"} and threading.current_thread().name == "transaction":
            inside.set()
            other_done.wait(0.5)  # serialised, the other write cannot land before the end
        return get_item(self, table_name, keys, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get_item)
    outcome: dict[str, Any] = {}

    def transaction() -> None:
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": name, "Item": _item("saga", "first", state="NEW")}},
                    {
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": {"S": "saga"}, "sk": {"S": "step"}},
                            "UpdateExpression": "SET #s = :new",
                            "ConditionExpression": "#s = :pending",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":new": {"S": "NEW"}, ":pending": {"S": "PENDING"}},
                        }
                    },
                ]
            )
        except ClientError as error:
            outcome["error"] = error.response["Error"]["Code"]

    worker = threading.Thread(target=transaction, name="transaction")
    worker.start()
    assert inside.wait(5)
    ddb.put_item(TableName=name, Item=_item("other-saga", "step", state="WRITTEN"))
    other_done.set()
    worker.join(5)
    assert outcome == {"error": "TransactionCanceledException"}
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in ddb.scan(TableName=name)["Items"]}
    assert keys == {("saga", "step"), ("other-saga", "step")}  # "first" rolled back, the other kept


def test_conditional_writes_cannot_interleave(
    table: tuple[Any, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of the same new item: moto checks both conditions before either writes,
    so both would succeed; serialised, exactly one does."""
    from moto.dynamodb.models import table as table_module

    ddb, name, _ = table
    both_checked = threading.Barrier(2, timeout=0.5)
    stock = table_module.get_filter_expression

    def checked_then_wait(*args: Any, **kwargs: Any) -> Any:
        condition = stock(*args, **kwargs)
        expr = condition.expr

        def evaluate(item: Any) -> bool:
            passed = bool(expr(item))
            with contextlib.suppress(threading.BrokenBarrierError):
                both_checked.wait()  # the other writer checks now, unless writes are serialised
            return passed

        condition.expr = evaluate  # type: ignore[method-assign]
        return condition

    monkeypatch.setattr(table_module, "get_filter_expression", checked_then_wait)

    def claim(owner: str) -> str:
        try:
            ddb.put_item(
                TableName=name,
                Item=_item("lock", "holder", owner=owner),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "claimed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(claim, ["a", "b"]))
    assert outcomes == ["ConditionalCheckFailedException", "claimed"]


# --- dynamodb: queries read their partition -------------------------------------------------------
class _Unreadable(dict[str, Any]):
    """A partition a query of another partition must not read."""

    def values(self) -> Any:
        raise AssertionError("a query read another partition")

    def __iter__(self) -> Any:
        raise AssertionError("a query read another partition")


def test_a_query_reads_only_its_own_partition(table: tuple[Any, str, Any]) -> None:
    ddb, name, stored = table
    for sk in ("c", "a", "b"):
        ddb.put_item(TableName=name, Item=_item("mine", sk, n=sk))
    ddb.put_item(TableName=name, Item=_item("theirs", "a"))
    stored.items["theirs"] = _Unreadable(stored.items["theirs"])
    answer = ddb.query(
        TableName=name,
        KeyConditionExpression="pk = :pk AND sk > :after",
        ExpressionAttributeValues={":pk": {"S": "mine"}, ":after": {"S": "a"}},
    )
    assert [item["sk"]["S"] for item in answer["Items"]] == ["b", "c"]  # sorted by the range key
    nothing = ddb.query(
        TableName=name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "nobody"}},
    )
    assert nothing["Items"] == []


class _WrittenMeanwhile(dict[str, Any]):
    """A partition whose reading lets another writer add a partition to the table, as a thread
    writing while a scan or an index query walks the table would (writes take the lock, reads
    do not)."""

    def __init__(self, partition: dict[str, Any], table_items: dict[str, Any]) -> None:
        super().__init__(partition)
        self._table_items = table_items

    def values(self) -> Any:
        self._table_items.setdefault(f"late-{len(self._table_items)}", {})
        return super().values()


def test_a_walk_of_the_whole_table_survives_a_write_meanwhile(table: tuple[Any, str, Any]) -> None:
    """Stock moto walks the live dicts: the read failed with "dictionary changed size during
    iteration" (a 500 from an index Query during a CI run)."""
    ddb, name, stored = table
    for pk in ("a", "b"):
        ddb.put_item(TableName=name, Item=_item(pk, "x", n=pk))
    stored.items["a"] = _WrittenMeanwhile(stored.items["a"], stored.items)
    scanned = ddb.scan(TableName=name)
    assert sorted(item["pk"]["S"] for item in scanned["Items"]) == ["a", "b"]


# --- stepfunctions: nested executions -------------------------------------------------------------
def _start_child(aws: Aws, resource: str, child_states: dict[str, Any]) -> Run:
    child = aws.machine(f"child-{aws._count}-{len(resource)}", child_states)
    parent = aws.machine(
        f"parent-{aws._count}-{len(resource)}",
        {
            "Child": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::states:{resource}",
                "Parameters": {"StateMachineArn": child, "Input": {"n": 1}},
                "End": True,
            }
        },
    )
    return aws.run(parent)


def test_a_sync2_result_is_the_childs_description_as_aws_answers_it(aws: Aws) -> None:
    """The parent's output is the raw result: DescribeExecution of the parent (which ``aws.run``
    calls) must serialise it, dates and all, and the details are spelt as AWS spells them."""
    run = _start_child(
        aws, "startExecution.sync:2", {"Done": {"Type": "Pass", "Result": {"done": 1}, "End": True}}
    )
    assert run.status == "SUCCEEDED"
    result = run.output
    assert {k: result[k] for k in ("Input", "InputDetails", "Output", "OutputDetails", "Status")} == {
        "Input": {"n": 1},
        "InputDetails": {"Included": True},
        "Output": {"done": 1},
        "OutputDetails": {"Included": True},
        "Status": "SUCCEEDED",
    }
    assert isinstance(result["StartDate"], int) and isinstance(result["StopDate"], int)  # epoch millis
    assert result["StartDate"] <= result["StopDate"]
    assert ":execution:child-" in result["ExecutionArn"]
    assert ":stateMachine:child-" in result["StateMachineArn"]


def test_a_sync_result_holds_the_childs_input_and_output_as_text(aws: Aws) -> None:
    run = _start_child(
        aws, "startExecution.sync", {"Done": {"Type": "Pass", "Result": {"done": 1}, "End": True}}
    )
    assert run.status == "SUCCEEDED"
    assert json.loads(run.output["Input"]) == {"n": 1} and json.loads(run.output["Output"]) == {"done": 1}
    assert (run.output["InputDetails"], run.output["OutputDetails"]) == (
        {"Included": True},
        {"Included": True},
    )


def test_a_failed_child_fails_the_parent_task_with_its_description(aws: Aws) -> None:
    run = _start_child(
        aws, "startExecution.sync", {"No": {"Type": "Fail", "Error": "ChildError", "Cause": "bad"}}
    )
    assert run.status == "FAILED"
    failed = run.details(run.last)
    assert failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "ChildError", "bad")
    assert cause["InputDetails"] == {"Included": True} and "Output" not in cause
    assert isinstance(cause["StartDate"], int)


# --- stepfunctions: completion events -------------------------------------------------------------
def test_an_execution_announces_its_start_and_end_and_can_be_awaited(aws: Aws) -> None:
    machine = aws.machine("announced", {"Done": {"Type": "Pass", "End": True}})
    heard: list[dict[str, Any]] = []
    stepfunctions.STATUS_LISTENERS.append(heard.append)
    try:
        execution = aws.start(machine, {"n": 1})
        assert stepfunctions.wait_for_completion(execution, 5, ACCOUNT, REGION)
    finally:
        stepfunctions.STATUS_LISTENERS.remove(heard.append)
    mine = [(d["status"], d["input"]) for d in heard if d["executionArn"] == execution]
    assert mine == [("RUNNING", '{"n": 1}'), ("SUCCEEDED", '{"n": 1}')]
    assert aws.sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


# --- stepfunctions: executions started without a name ---------------------------------------------
def test_unnamed_executions_are_named_with_a_uuid(aws: Aws) -> None:
    machine = aws.machine("unnamed", {"Done": {"Type": "Pass", "End": True}})
    first, second = (aws.sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(2))
    names = [str(uuid.UUID(arn.rsplit(":", 1)[1])) for arn in (first, second)]
    assert names[0] != names[1]
    assert [aws.wait(arn).status for arn in (first, second)] == ["SUCCEEDED", "SUCCEEDED"]


# --- stepfunctions: task tokens answered while another execution starts ---------------------------
def test_send_task_skips_an_execution_that_has_no_environment_yet(aws: Aws) -> None:
    from moto.stepfunctions.responses import get_backend

    agent = aws.function("agent", "callback")
    machine = aws.machine("starting", {"Work": _callback_task(agent, {"mode": "none"})})
    execution = aws.start(machine)
    token = _until(lambda: handlers.TOKENS, what="the token")[0]
    worker = get_backend(ACCOUNT, REGION).describe_execution(execution).exec_worker
    env, worker.env = worker.env, None  # as an execution whose definition is still being parsed
    try:
        for send in (
            lambda: aws.sfn.send_task_heartbeat(taskToken=token),
            lambda: aws.sfn.send_task_success(taskToken=token, output="{}"),
            lambda: aws.sfn.send_task_failure(taskToken=token, error="E"),
        ):
            with pytest.raises(ClientError) as raised:
                send()
            assert raised.value.response["Error"]["Code"] == "InvalidToken"
    finally:
        worker.env = env
    aws.sfn.send_task_success(taskToken=token, output=json.dumps({"answered": True}))
    assert aws.wait(execution).output == {"answered": True}


# --- stepfunctions: what a failed iteration or branch hands to its Map or Parallel ----------------
def test_a_timeout_crosses_a_parallel_as_states_timeout(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    work = _callback_task(agent, {"mode": "none"}, TimeoutSeconds=300)
    machine = aws.machine(
        "timeout-through-parallel",
        {
            "Both": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Work", "States": {"Work": work}}],
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}],
                "Next": "Caught",
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    )
    stepfunctions.TIME.factor = 0.001  # 300 s -> 0.3 s
    run = aws.run(machine)
    assert run.status == "SUCCEEDED"
    assert run.output["Error"] == "States.Timeout"


def test_a_missing_path_fails_the_execution_past_a_catch_on_states_all(aws: Aws) -> None:
    # AWS: "A retry or catch on States.ALL won't catch States.Runtime errors" (error handling
    # guide). A Map reading a path that is not there fails the execution; moto caught it.
    machine = aws.machine(
        "runtime-past-states-all",
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"faults.$": "$.missing"},
                "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    )
    run = aws.run(machine, {"items": [1]})
    assert (run.status, run.details(run.last)["error"]) == ("FAILED", "States.Runtime")
    assert "Caught" not in {e.get("stateEnteredEventDetails", {}).get("name") for e in run.events}
    assert len(run.of_type("MapStateStarted")) == 1  # and not retried


def test_a_null_error_crosses_a_parallel_as_null(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "null-through-parallel",
        {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Work", "States": {"Work": _callback_task(agent, {"mode": "none"})}}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "Next": "Caught",
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    )
    execution = aws.start(machine)
    token = _until(lambda: handlers.TOKENS, what="the token")[0]
    aws.sfn.send_task_failure(taskToken=token)
    assert aws.wait(execution).output == {"Error": None, "Cause": None}


# --- stepfunctions: what lambda:invoke reports of the Lambda service's errors ----------------------
def test_a_missing_function_is_named_as_its_latest_version(aws: Aws) -> None:
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:missing"
    invoke = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    machine = aws.machine("missing-function", {"Work": {**invoke, "Parameters": {"FunctionName": missing}}})
    run = aws.run(machine)
    failed = run.details(run.last)
    assert failed["error"] == "Lambda.ResourceNotFoundException"
    assert failed["cause"].startswith(f"Function not found: {missing}:$LATEST (Service: AWSLambda; ")


# --- stepfunctions: aborts, and nothing recorded after a timeout or the end -----------------------
def test_a_failed_branch_aborts_its_running_sibling(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    waits = {"StartAt": "Waits", "States": {"Waits": _callback_task(agent, {"mode": "none"})}}
    fails = {"StartAt": "Fails", "States": {"Fails": _callback_task(agent, {"mode": "none"})}}
    machine = aws.machine(
        "aborted-sibling", {"Both": {"Type": "Parallel", "Branches": [waits, fails], "End": True}}
    )
    execution = aws.start(machine)
    tokens = _until(lambda: len(handlers.TOKENS) == 2 and list(handlers.TOKENS), what="both tokens")
    aws.sfn.send_task_failure(taskToken=tokens[0], error="Failed")
    run = aws.wait(execution)
    types = [event["type"] for event in run.events]
    assert run.status == "FAILED"
    assert types[-4:] == ["TaskStateAborted", "TaskStateAborted", "ParallelStateFailed", "ExecutionFailed"]
    with pytest.raises(ClientError):  # the sibling was stopped: its token answers nothing
        aws.sfn.send_task_success(taskToken=tokens[1], output="{}")
    assert [event["type"] for event in aws.wait(execution).events] == types


def test_a_failed_iteration_aborts_its_running_siblings(aws: Aws) -> None:
    agent = aws.function("agent", "callback")
    machine = aws.machine(
        "aborted-iterations",
        {
            "Items": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {"Work": _callback_task(agent, {"mode": "none"})},
                },
                "End": True,
            }
        },
    )
    execution = aws.start(machine, {"items": [1, 2, 3]})
    tokens = _until(lambda: len(handlers.TOKENS) == 3 and list(handlers.TOKENS), what="three tokens")
    aws.sfn.send_task_failure(taskToken=tokens[0], error="Failed")
    run = aws.wait(execution)
    types = [event["type"] for event in run.events]
    assert run.status == "FAILED"
    assert types.count("MapIterationAborted") == 2
    assert types.count("TaskStateAborted") == 3  # the failed task and its two siblings
    assert (
        types.index("MapIterationFailed") < types.index("MapIterationAborted") < types.index("MapStateFailed")
    )
    assert types[-2:] == ["MapStateFailed", "ExecutionFailed"]


def test_a_result_after_its_task_timed_out_is_not_recorded(aws: Aws) -> None:
    slow = aws.function("slow", "slow")
    agent = aws.function("agent", "callback")
    catch = [{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Waits"}]
    machine = aws.machine(
        "late-result",
        {
            "Slow": {"Type": "Task", "Resource": slow, "TimeoutSeconds": 1, "Catch": catch, "Next": "Waits"},
            "Waits": _callback_task(agent, {"mode": "none"}),
        },
    )
    execution = aws.start(machine, {"n": 1})
    token = _until(lambda: handlers.TOKENS, what="the task after the timeout")[0]
    handlers.RELEASE.set()  # the function returns now, while the execution still runs
    _until(lambda: handlers.ASYNC_DONE, what="the late function")
    time.sleep(0.3)
    aws.sfn.send_task_success(taskToken=token, output="{}")
    types = [event["type"] for event in aws.wait(execution).events]
    assert "TaskStateEntered" in types
    assert "LambdaFunctionSucceeded" not in types, types


# --- stepfunctions_api: DescribeExecution ---------------------------------------------------------
def test_describe_execution_answers_a_string_output_as_json_text(aws: Aws) -> None:
    machine = aws.machine("string-output", {"Done": {"Type": "Pass", "Result": "done", "End": True}})
    execution = aws.start(machine)
    aws.wait(execution)
    assert aws.sfn.describe_execution(executionArn=execution)["output"] == '"done"'


# --- cloudformation: change sets, as `cdk deploy` drives them -------------------------------------
def _cdk_template(bucket: str, version: str, hosts: str, alarm: int | None) -> dict[str, Any]:
    """What CDK synthesizes, in small: the bootstrap version parameter, a function with a layer
    moto does not have and a version named by its configuration, a machine invoking that version,
    a log group (a type moto cannot update), and an alarm (a type moto skips) unless ``None``."""
    machine = {"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "${Fn}", "End": True}}}
    resources: dict[str, Any] = {
        "Logs": {"Type": "AWS::Logs::LogGroup", "Metadata": {"aws:cdk:path": f"Logs-{version}"}},
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
                "Handler": f"{HANDLERS}.echo",
                "Role": ROLE,
                "Runtime": "python3.13",
                "Layers": [f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3:27"],
                "Environment": {"Variables": {"HOSTS": hosts, "LOGS": {"Fn::GetAtt": ["Logs", "Arn"]}}},
            },
        },
        f"FunctionVersion{version}": {
            "Type": "AWS::Lambda::Version",
            "Properties": {"FunctionName": {"Ref": "Function"}},
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "cdk-deployed",
                "RoleArn": ROLE,
                "DefinitionString": json.dumps(machine),
                "DefinitionSubstitutions": {"Fn": {"Ref": f"FunctionVersion{version}"}},
            },
        },
    }
    if alarm is not None:
        resources["Alarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Threshold": alarm}}
    return {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Resources": resources,
    }


def _cdk_deploy(aws: Aws, stack: str, bucket: str, template: dict[str, Any]) -> str:
    """``cdk deploy``'s calls for an existing stack, as recorded against ``stepsaga up``: delete
    its change set if it exists, wait for it to be gone, create one from the template it uploaded
    (named by the endpoint's URL), wait for it, execute it. Returns the stack's status."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=bucket, Key="template.json", Body=json.dumps(template).encode())
    aws.cfn.delete_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    with pytest.raises(ClientError) as gone:
        aws.cfn.describe_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    assert gone.value.response["Error"]["Code"] == "ChangeSetNotFound"
    created = aws.cfn.create_change_set(
        StackName=stack,
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType="UPDATE",
        TemplateURL=f"http://127.0.0.1:4566/{bucket}/template.json",
        Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}],
    )
    assert aws.cfn.describe_change_set(ChangeSetName=created["Id"])["Status"] == "CREATE_COMPLETE"
    aws.cfn.execute_change_set(StackName=stack, ChangeSetName=created["Id"])
    return str(aws.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def test_change_set_lookups_answer_as_aws_does(aws: Aws) -> None:
    aws.cfn.create_stack(
        StackName="cdk-lookups",
        TemplateBody=json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}),
    )
    # Deleting a change set that is not there succeeds while the stack exists (CDK relies on it).
    aws.cfn.delete_change_set(StackName="cdk-lookups", ChangeSetName="none-yet")
    for call in (aws.cfn.describe_change_set, aws.cfn.execute_change_set):
        with pytest.raises(ClientError) as missing:
            call(StackName="cdk-lookups", ChangeSetName="none-yet")
        assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as no_stack:
        aws.cfn.delete_change_set(StackName="no-such-stack", ChangeSetName="none-yet")
    assert no_stack.value.response["Error"]["Code"] == "ValidationError"


# The stack removes an alarm on purpose: a type moto's CloudFormation skips, with a warning.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_cdk_deploy_updates_a_running_stack_from_its_uploaded_template(aws: Aws) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True
    )
    bucket = f"assets-{uuid.uuid4().hex[:12]}"  # the bootstrap bucket's part: code and template
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="code.zip", Body=_zip())
    first = _cdk_template(bucket, "A", "127.0.0.1,localhost", alarm=1)
    aws.cfn.create_stack(StackName="cdk-deployed", TemplateBody=json.dumps(first))

    status = _cdk_deploy(aws, "cdk-deployed", bucket, _cdk_template(bucket, "B", "localhost", alarm=2))

    assert status == "UPDATE_COMPLETE"
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cdk-deployed"
    definition = json.loads(aws.sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    invoked = definition["States"]["Echo"]["Resource"]
    assert invoked.endswith(":2"), invoked  # the version the update published, substituted
    variables = aws.lam.get_function_configuration(FunctionName=invoked)["Environment"]["Variables"]
    assert variables["HOSTS"] == "localhost"  # published from the updated configuration
    assert variables["LOGS"].startswith("arn:aws:logs:")
    run = aws.run(machine, {"greeting": "hi"})
    assert (run.status, run.output) == ("SUCCEEDED", {"greeting": "hi"})
    # Removing a resource of a type moto skips (once modified) leaves nothing to delete.
    assert _cdk_deploy(aws, "cdk-deployed", bucket, _cdk_template(bucket, "B", "localhost", None)) == (
        "UPDATE_COMPLETE"
    )


def test_a_parse_kept_waiting_goes_ahead_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse lock never deadlocks: a finalizer the collector runs mid-parse may wait on a
    lock whose holder is about to parse (a review built one); after ``_AST_PARSE_WAIT`` the
    waiting parse goes ahead, as stock Python's would."""
    import ast

    patches.install()
    monkeypatch.setattr(stepfunctions, "_AST_PARSE_WAIT", 0.05)
    parsed: list[Any] = []
    with stepfunctions._AST_PARSE:  # held here, as by a thread stuck in a finalizer
        waiting = threading.Thread(target=lambda: parsed.append(ast.parse("1 + 1", mode="eval")))
        waiting.start()
        waiting.join(timeout=10)
        alone = not waiting.is_alive()
    waiting.join()
    assert alone and isinstance(parsed[0], ast.Expression)


def _subscript_fails() -> Any:
    return {"a": 1}["b"] + 0  # a traceback underlines the subscript: Python 3.11 parses the line


def test_every_ast_parse_takes_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11 counts the AST conversion's depth per interpreter: two threads in
    ``ast.parse`` at once could fail one with "AST constructor recursion depth mismatch" — an
    execution unescaping an ASL string literal (``States.Runtime``) while a failing handler's
    traceback is formatted. Both parse one thread at a time."""
    import ast
    import builtins
    import traceback

    from moto.stepfunctions.parser.asl.antlt4utils import antlr4utils

    patches.install()
    inside, most, modes, count = [0], [0], [], threading.Lock()

    def watched(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> Any:
        with count:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            modes.append(mode)
        time.sleep(0.002)  # long enough for another thread to come in, were it let in
        try:
            return builtins.compile(source, filename, mode, *args, **kwargs)
        finally:
            with count:
                inside[0] -= 1

    monkeypatch.setattr(ast, "compile", watched, raising=False)  # what ast.parse calls

    class Literal:
        def getText(self) -> str:
            return '"a\\nb"'

    def traced(_: int) -> str:
        try:
            _subscript_fails()
        except KeyError as error:
            return "".join(traceback.format_exception(error))
        raise AssertionError("no KeyError")

    with ThreadPoolExecutor(8) as pool:
        literals = pool.map(lambda _: antlr4utils.from_string_literal(Literal()), range(32))  # type: ignore[arg-type]
        tracebacks = pool.map(traced, range(32))
        parsed, formatted = list(literals), list(tracebacks)
    assert parsed == ["a\nb"] * 32 and all("^^^" in text for text in formatted)
    assert {"eval", "exec"} <= set(modes)  # literal_eval's parses and the tracebacks' parses
    assert most[0] == 1
