"""A conformance case as data: an ASL document, the Lambda functions it invokes, its input, and the
outcome AWS documents for it (status, output or error and cause, the ordered history).

Placeholders ``${Name}`` in an ASL document stand for the ARN of the case's function or child state
machine of that name; the runner substitutes them once the resources exist.

History events are written ``"Type"`` or ``"Type:StateName"`` (the name for the events that carry
one: ``*StateEntered`` and ``*StateExited``); the history is compared as the ordered list of
(type, state name) pairs. Events of branches or iterations that run at the same time have no order
on AWS either: ``Unordered(...)`` matches the next events in any order.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conformance.runner import Driver

Event = tuple[str, str | None]


def event(written: str) -> Event:
    kind, _, name = written.partition(":")
    return kind, name or None


class Unordered:
    """Events of concurrent branches or iterations: the next ``len(events)`` events, in any order."""

    def __init__(self, *events: str) -> None:
        self.events = tuple(events)

    def __repr__(self) -> str:
        return f"Unordered{self.events}"


Expected = str | Unordered


@dataclass(frozen=True)
class Function:
    """A Lambda function of a case: its handler in ``tests.conformance.handlers``.

    ``handler=""`` names a function that is never created (its ARN is well formed). ``app_code``
    functions import the app's ``functions`` package (zipped with them on AWS, with Powertools).
    """

    handler: str
    env: dict[str, str] = field(default_factory=dict)
    app_code: bool = False


MISSING = Function("")


class _Absent:
    def __repr__(self) -> str:
        return "<not checked>"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Expect:
    status: str
    events: Sequence[Expected]
    output: Any = ABSENT
    error: Any = ABSENT
    cause: Any = ABSENT


@dataclass(frozen=True)
class Case:
    name: str
    doc: str  # the AWS page that documents the behaviour
    asl: dict[str, Any]
    expect: Expect
    functions: dict[str, Function] = field(default_factory=dict)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # child state machines
    input: Any = field(default_factory=dict)
    drive: Callable[[Driver], None] | None = None  # what a worker does while the execution runs
    scale: float = 1.0  # embedded stack: TimeoutSeconds/HeartbeatSeconds (and the driver's sleeps) x scale
    settle: float = 0.0  # seconds to wait once the execution is over before reading its history again
    gap: str | None = None  # the embedded stack differs from AWS here (strict xfail there)
    area: str = ""


def machine(states: dict[str, Any], **top: Any) -> dict[str, Any]:
    """An ASL document (or a branch, or an item processor) starting at its first state."""
    return {"StartAt": next(iter(states)), "States": states, **top}


# --- history fragments ----------------------------------------------------------------------------
# One attempt of a task: a Lambda function by its ARN, the lambda:invoke integration, a callback.
LAMBDA_OK = ("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded")
LAMBDA_FAILED = ("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed")
LAMBDA_TIMED_OUT = ("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionTimedOut")
INVOKE_OK = ("TaskScheduled", "TaskStarted", "TaskSucceeded")
INVOKE_FAILED = ("TaskScheduled", "TaskStarted", "TaskFailed")
INVOKE_TIMED_OUT = ("TaskScheduled", "TaskStarted", "TaskTimedOut")
SUBMITTED = ("TaskScheduled", "TaskStarted", "TaskSubmitted")


def task(state: str, *attempts: tuple[str, ...], exited: bool = True) -> list[str]:
    """A Task state's events: entered, each attempt's, exited (a failure that is not caught has no exit)."""
    events = [f"TaskStateEntered:{state}"] + [e for attempt in attempts for e in attempt]
    return [*events, f"TaskStateExited:{state}"] if exited else events


def passes(*states: str) -> list[str]:
    return [e for state in states for e in (f"PassStateEntered:{state}", f"PassStateExited:{state}")]


# --- matchers for outputs and causes --------------------------------------------------------------
class Json:
    """A string holding JSON equal to ``expected`` (error causes are JSON strings)."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        try:
            return bool(json.loads(other) == self.expected)
        except ValueError:
            return False

    def __repr__(self) -> str:
        return f"Json({self.expected!r})"


class Regex:
    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern, re.DOTALL)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.pattern.fullmatch(other) is not None

    def __repr__(self) -> str:
        return f"Regex({self.pattern.pattern!r})"


class Where:
    """A value the predicate accepts; ``what`` says which in a failure."""

    def __init__(self, predicate: Callable[[Any], bool], what: str) -> None:
        self.predicate, self.what = predicate, what

    def __eq__(self, other: object) -> bool:
        try:
            return bool(self.predicate(other))
        except Exception:
            return False

    def __repr__(self) -> str:
        return f"<{self.what}>"


ANY_VALUE = Where(lambda value: True, "any value")
UUID = Regex(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EPOCH_MILLIS = Where(lambda value: isinstance(value, int | float) and value > 1e12, "epoch milliseconds")


# --- comparing an outcome with a case's expectation -----------------------------------------------
def history_differences(expected: Sequence[Expected], actual: Sequence[Event]) -> list[str]:
    position = 0
    for item in expected:
        wanted = [event(e) for e in item.events] if isinstance(item, Unordered) else [event(item)]
        found = list(actual[position : position + len(wanted)])
        same = Counter(found) == Counter(wanted) if isinstance(item, Unordered) else found == wanted
        if not same:
            return [f"history differs at event {position + 1}: expected {item!r}, got {found}"]
        position += len(wanted)
    if position != len(actual):
        return [f"history has more events than expected: {list(actual[position:])}"]
    return []


def differences(
    expect: Expect, status: str, output: Any, error: Any, cause: Any, events: list[Event]
) -> list[str]:
    """What differs between the expectation and an execution's outcome (empty: conforms)."""
    found = []
    for what, wanted, got in (
        ("status", expect.status, status),
        ("output", expect.output, output),
        ("error", expect.error, error),
        ("cause", expect.cause, cause),
    ):
        if wanted is not ABSENT and wanted != got:
            found.append(f"{what}: expected {wanted!r}, got {got!r}")
    return found + history_differences(expect.events, events)
