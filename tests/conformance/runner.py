"""Runs conformance cases on a target: creates each case's functions and state machines, starts its
execution, lets its driver act, and reads the outcome (DescribeExecution and the history).

Every selected case runs at once, each on its own thread, so the suite lasts about as long as its
slowest case. ``EmbeddedTarget`` is the embedded stack's moto with the stack's patches (the caller
starts it, the way ``tests/functional/test_adapters.py`` does); ``AwsTarget`` is a real account.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.conformance.case import Case, Event, Function, differences

HANDLERS = "tests.conformance.handlers"
TERMINAL_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")
ROOT = Path(__file__).resolve().parents[2]


class NotJson(str):
    """An output that should have been JSON text and is not (compares equal to nothing expected)."""

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"NotJson({str.__repr__(self)})"


def _parsed(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return NotJson(text)


@dataclass
class Outcome:
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    seconds: float

    @property
    def events(self) -> list[Event]:
        named = ("stateEnteredEventDetails", "stateExitedEventDetails")
        return [(e["type"], next((e[key]["name"] for key in named if key in e), None)) for e in self.history]

    def differences(self, case: Case) -> list[str]:
        return differences(case.expect, self.status, self.output, self.error, self.cause, self.events)


@dataclass(frozen=True)
class Started:
    arn: str
    began: float
    scale: float


class Driver:
    """What a case's worker sees of its running execution: the history, task tokens, SendTask*."""

    def __init__(self, sfn: Any, execution_arn: str, scale: float, timeout: float, poll: float) -> None:
        self.sfn, self.execution_arn, self.scale = sfn, execution_arn, scale
        self.timeout, self.poll = timeout, poll

    def history(self) -> list[dict[str, Any]]:
        return _history(self.sfn, self.execution_arn)

    def sleep(self, seconds: float) -> None:
        """``seconds`` on AWS; scaled like the case's timeouts on the embedded stack."""
        time.sleep(seconds * self.scale)

    def submitted(self, count: int = 1) -> list[dict[str, Any]]:
        """Once ``count`` callback tasks are submitted: the Payload of every callback task scheduled so
        far, in order (each holds its ``token``)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            events = self.history()
            if sum(e["type"] == "TaskSubmitted" for e in events) >= count:
                return [
                    json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
                    for e in events
                    if e["type"] == "TaskScheduled"
                    and e["taskScheduledEventDetails"]["resource"].endswith(".waitForTaskToken")
                ]
            if events and events[-1]["type"] in TERMINAL_EVENTS:
                raise AssertionError(f"the execution ended before {count} callback tasks were submitted")
            time.sleep(self.poll)
        raise AssertionError(f"{count} callback tasks were not submitted within {self.timeout} s")

    def succeed(self, token: str, output: Any) -> None:
        self.sfn.send_task_success(taskToken=token, output=json.dumps(output))

    def fail(self, token: str, **error_and_cause: str) -> None:
        self.sfn.send_task_failure(taskToken=token, **error_and_cause)

    def heartbeat(self, token: str) -> None:
        self.sfn.send_task_heartbeat(taskToken=token)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


class Target:
    """Where the cases run; the subclasses say what differs (code, clock, waiting)."""

    name = ""
    poll = 1.0  # seconds between two reads of an execution
    timeout = 180.0  # per case
    settle = 5.0  # how long events may still arrive after the execution is over

    def __init__(self, region: str, role_arn: str) -> None:
        self.region, self.role_arn = region, role_arn
        self.sfn = boto3.client("stepfunctions", region_name=region)
        self.lam = boto3.client("lambda", region_name=region)
        self.account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        self.prefix = f"conf-{uuid.uuid4().hex[:6]}"
        self.functions: list[str] = []
        self.machines: list[str] = []
        self.scaled: list[str] = []  # executions on a scaled clock

    # -- what differs between targets -------------------------------------------------------------
    def code(self, function: Function) -> bytes:
        raise NotImplementedError

    def function_options(self, function: Function) -> dict[str, Any]:
        return {}

    def scale(self, case: Case, execution_name: str) -> float:
        """The factor of the execution's timeouts; real time unless the target can scale it."""
        return 1.0

    def unsupported(self, case: Case) -> str | None:
        return None

    def await_functions(self, arns: list[str]) -> None:
        return None

    def ended(self, execution_arn: str, deadline: float) -> None:
        """Returns once the execution may be over (the caller polls anyway)."""
        return None

    # -- deploy, run, read ------------------------------------------------------------------------
    def deploy(self, index: int, case: Case) -> str:
        arns: dict[str, str] = {}
        for logical, function in case.functions.items():
            name = f"{self.prefix}-{index:02d}-{logical}"[:64]
            if not function.handler:
                arns[logical] = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
                continue
            created = self.lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=self.role_arn,
                Handler=f"{HANDLERS}.{function.handler}",
                Code={"ZipFile": self.code(function)},
                Timeout=30,
                Environment={"Variables": function.env},
                **self.function_options(function),
            )
            self.functions.append(name)
            arns[logical] = created["FunctionArn"]
        self.await_functions([arns[n] for n, f in case.functions.items() if f.handler])
        for logical, child in case.machines.items():
            arns[logical] = self._machine(f"{self.prefix}-{index:02d}-{logical}", child, arns)
        return self._machine(f"{self.prefix}-{index:02d}-{case.name}", case.asl, arns)

    def _machine(self, name: str, asl: dict[str, Any], arns: dict[str, str]) -> str:
        definition = json.dumps(asl)
        for logical, arn in arns.items():
            definition = definition.replace("${" + logical + "}", arn)
        created = self.sfn.create_state_machine(name=name[:80], definition=definition, roleArn=self.role_arn)
        self.machines.append(created["stateMachineArn"])
        return str(created["stateMachineArn"])

    def start(self, index: int, case: Case) -> Started:
        machine_arn = self.deploy(index, case)
        name = f"{case.name}-{uuid.uuid4().hex[:8]}"[:80]
        scale = self.scale(case, name)
        began = time.monotonic()
        execution = self.sfn.start_execution(
            stateMachineArn=machine_arn, name=name, input=json.dumps(case.input)
        )
        return Started(execution["executionArn"], began, scale)

    def finish(self, case: Case, started: Started) -> Outcome:
        if case.drive is not None:
            case.drive(Driver(self.sfn, started.arn, started.scale, self.timeout, self.poll))
        outcome = self.wait(started.arn, started.began)
        if case.settle:  # a history is final once the execution is over: read it again later
            time.sleep(case.settle)
            outcome.history = _history(self.sfn, started.arn)
        return outcome

    def await_started(self, executions: list[Started]) -> None:
        """Until each execution has written ExecutionStarted (its interpreter is up)."""
        for started in executions:
            deadline = started.began + self.timeout
            while not _history(self.sfn, started.arn) and time.monotonic() < deadline:
                time.sleep(self.poll)

    def wait(self, execution_arn: str, began: float) -> Outcome:
        """Until the execution is over and its terminal event is the last one in its history (or,
        ``settle`` seconds after it is over, with whatever events came after its terminal one)."""
        deadline = began + self.timeout
        self.ended(execution_arn, deadline)
        ended: float | None = None
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                ended = ended or time.monotonic()
                history = _history(self.sfn, execution_arn)
                last = history[-1]["type"] if history else None
                if last in TERMINAL_EVENTS or time.monotonic() - ended > self.settle:
                    return Outcome(
                        described["status"],
                        _parsed(described.get("output")),
                        described.get("error"),
                        described.get("cause"),
                        history,
                        time.monotonic() - began,
                    )
            time.sleep(self.poll)
        events = [e["type"] for e in _history(self.sfn, execution_arn)]
        raise AssertionError(f"still running after {self.timeout} s; history so far: {events}")

    def run_all(self, cases: list[Case]) -> dict[str, Outcome | BaseException | str]:
        """Every case at once; a case's result is its outcome, what it raised, or why it was skipped.

        Every execution is started, and running, before any driver sends a task token: on the
        embedded stack a SendTask* that races an execution's start fails (see docs/FIDELITY.md).
        """
        results: dict[str, Outcome | BaseException | str] = {}
        running: dict[str, Started] = {}

        def start(index: int, case: Case) -> None:
            reason = self.unsupported(case)
            if reason:
                results[case.name] = reason
                return
            try:
                running[case.name] = self.start(index, case)
            except Exception as error:  # the case fails with it; the others go on
                results[case.name] = error

        def finish(case: Case) -> None:
            try:
                results[case.name] = self.finish(case, running[case.name])
            except Exception as error:
                results[case.name] = error

        with ThreadPoolExecutor(max_workers=max(1, len(cases))) as pool:
            list(pool.map(start, range(len(cases)), cases))
            self.await_started(list(running.values()))
            list(pool.map(finish, [case for case in cases if case.name in running]))
        return results

    def cleanup(self) -> None:
        for machine_arn in self.machines:
            with contextlib.suppress(Exception):
                for listed in self.sfn.list_executions(stateMachineArn=machine_arn, statusFilter="RUNNING")[
                    "executions"
                ]:
                    self.sfn.stop_execution(executionArn=listed["executionArn"])
            with contextlib.suppress(Exception):
                self.sfn.delete_state_machine(stateMachineArn=machine_arn)
        for name in self.functions:
            with contextlib.suppress(Exception):
                self.lam.delete_function(FunctionName=name)


class EmbeddedTarget(Target):
    """The embedded stack: moto with every patch the stack installs, handlers run in this process."""

    name = "embedded"
    poll = 0.05  # every case polls at once: keep the process free for the executions
    timeout = 30.0  # per case, scaled timeouts included
    settle = 1.0

    def code(self, function: Function) -> bytes:
        """The in-process Lambda imports the handler itself: the zip only has to exist."""
        return _zip({"handler.py": "# the in-process Lambda imports tests.conformance.handlers\n"})

    def scale(self, case: Case, execution_name: str) -> float:
        from stepsaga.embedded.patches import stepfunctions

        stepfunctions.TIME.per_execution[execution_name] = case.scale
        self.scaled.append(execution_name)
        return case.scale

    def ended(self, execution_arn: str, deadline: float) -> None:
        from stepsaga.embedded.patches import stepfunctions

        remaining = max(0.0, deadline - time.monotonic())
        stepfunctions.wait_for_completion(execution_arn, remaining, self.account, self.region)

    def cleanup(self) -> None:
        super().cleanup()
        from stepsaga.embedded.patches import stepfunctions

        for name in self.scaled:
            stepfunctions.TIME.per_execution.pop(name, None)


class AwsTarget(Target):
    """A real account: the handlers module zipped as each function's code, run in real time.

    Needs credentials and ``STEPSAGA_CONFORMANCE_ROLE_ARN``, a role that both lambda.amazonaws.com
    and states.amazonaws.com may assume, allowed to invoke the functions, start, describe and stop
    the executions of the state machines it creates, and write logs. Cases whose function imports
    the app's code also need ``STEPSAGA_CONFORMANCE_POWERTOOLS_LAYER`` (a Powertools for AWS Lambda
    (Python) v3 layer ARN for the region).
    """

    name = "aws"

    def code(self, function: Function) -> bytes:
        files = ["tests/__init__.py", "tests/conformance/__init__.py", "tests/conformance/handlers.py"]
        if function.app_code:
            files += [
                "functions/__init__.py",
                "functions/common/__init__.py",
                "functions/common/observability.py",
            ]
        return _zip({path: (ROOT / path).read_text() for path in files})

    def function_options(self, function: Function) -> dict[str, Any]:
        layer = os.environ.get("STEPSAGA_CONFORMANCE_POWERTOOLS_LAYER")
        return {"Layers": [layer]} if function.app_code and layer else {}

    def unsupported(self, case: Case) -> str | None:
        needs_layer = any(f.app_code for f in case.functions.values())
        if needs_layer and not os.environ.get("STEPSAGA_CONFORMANCE_POWERTOOLS_LAYER"):
            return (
                "set STEPSAGA_CONFORMANCE_POWERTOOLS_LAYER (its function imports the app's Powertools setup)"
            )
        return None

    def await_functions(self, arns: list[str]) -> None:
        waiter = self.lam.get_waiter("function_active_v2")
        for arn in arns:
            waiter.wait(FunctionName=arn)


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


@contextlib.contextmanager
def aws_target() -> Iterator[AwsTarget | str]:
    """The AWS target, or why it cannot run here (no credentials, no role)."""
    session = boto3.Session()
    role = os.environ.get("STEPSAGA_CONFORMANCE_ROLE_ARN")
    if session.get_credentials() is None:
        yield "no AWS credentials"
        return
    if not role:
        yield "set STEPSAGA_CONFORMANCE_ROLE_ARN (a role Lambda and Step Functions may assume)"
        return
    target = AwsTarget(session.region_name or "us-east-1", role)
    try:
        yield target
    finally:
        target.cleanup()
