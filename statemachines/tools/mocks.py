"""Mocked task responses for every path of a machine, generated from its declaration and its ASL.

One case per path. A case says what each attempt of each task answers (a result, or an
error), the execution's input, and what the path must show: the top-level states entered
in order (a retried task once per attempt, as ``cost.Run.states`` counts them), the states
entered inside Map iterations (counted: iterations run concurrently), the number of task
attempts, and the final status and error. The paths are the cost model's
(``cost.scenarios``: happy, bad input, a permanent failure at each step, a retry, retries
exhausted, each compensation failing), plus an item failing and an item retried in each Map,
and, for a parent saga, the outcomes its Choice states route on: no child, one child and two
children to compensate, and a rollback that fails. Scenarios that take the same path make one
case (named after the first). A task gets exactly as many responses as the path calls it, so
a call the declaration does not predict fails the case; Map iterations share one sequence per
task, so which item gets which answer is the engine's choice, and the cases do not depend on it.

Cases are engine-neutral (``MockCase.as_dict``): ``localstack_config`` writes them as an
``SFN_MOCK_CONFIG`` file for LocalStack (or Step Functions Local), and ``teststate.walk``
runs the same cases on AWS's TestState API. ``observe`` reads an execution's history into
what a case expects, whichever engine ran it.

Not every path can be mocked: a Map fails as a whole only on a ``States.*`` error (its
iterations catch everything else), which no mock can throw. ``MockPlan.unreachable`` lists
those paths with the reason. Nothing here knows this app's sagas: callers pass them in.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.common.names import CHILD_SAGA_ID
from statemachines.parent import SFN_TRANSIENT, ParentSaga, compile_parent, compile_rollback, rollback_name
from statemachines.saga import PERMANENT_ERROR, PLACEHOLDER, Saga, compile_saga
from statemachines.tools.cost import TRANSIENT_ERROR, attempts_to_exhaust, scenarios, simulate

# AWS reports a failed child as States.TaskFailed, which a mock cannot throw; any other
# name reaches the same Catch (States.ALL).
CHILD_FAILED = "ChildSagaFailed"
ATTEMPT_EVENTS = ("LambdaFunctionScheduled", "TaskScheduled")
SYNC_PREFIX = "arn:aws:states:::states:startExecution.sync"


@dataclass(frozen=True)
class Response:
    """What one attempt of a task answers: its result, or an error."""

    result: Any = None
    error: str | None = None
    cause: str = ""

    @classmethod
    def failure(cls, error: str) -> Response:
        return cls(error=error, cause=f"mocked {error}")

    def as_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"Throw": {"Error": self.error, "Cause": self.cause}}
        return {"Return": self.result}


@dataclass(frozen=True)
class MockCase:
    machine: str
    name: str  # the test case's name: PascalCase, unique within the machine
    path: str  # the path's label (the cost report's, where it has one)
    input: Mapping[str, Any]
    resources: Mapping[str, str]  # each mocked task's Resource, as compiled (``${...}`` kept)
    # Per task, one response per attempt in order (Map iterations share one sequence).
    responses: Mapping[str, tuple[Response, ...]]
    states: tuple[str, ...]
    nested: Mapping[str, int]
    attempts: int
    status: str
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "name": self.name,
            "path": self.path,
            "input": self.input,
            "responses": {
                state: {"resource": self.resources[state], "attempts": [r.as_dict() for r in answers]}
                for state, answers in self.responses.items()
            },
            "expected": {
                "states": list(self.states),
                "nested": dict(self.nested),
                "attempts": self.attempts,
                "status": self.status,
                "error": self.error,
            },
        }


@dataclass(frozen=True)
class Unreachable:
    machine: str
    path: str
    reason: str


@dataclass
class MockPlan:
    cases: list[MockCase] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)

    def extend(self, other: MockPlan) -> None:
        self.cases += other.cases
        self.unreachable += other.unreachable

    def machines(self) -> list[str]:
        return list(dict.fromkeys(c.machine for c in self.cases))


@dataclass(frozen=True)
class Item:
    """One Map item: its value, and the errors its iteration's tasks raise."""

    value: Any
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Path:
    label: str
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)
    items: Mapping[str, Sequence[Item]] = field(default_factory=dict)
    results: Mapping[str, Any] = field(default_factory=dict)


def case_name(label: str) -> str:
    """``fail at Generation (2)`` -> ``FailAtGeneration2``."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", label))


def _tasks(states: Mapping[str, Any], found: dict[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Every Task state, at any depth, by name (names must be unique across depths)."""
    found = {} if found is None else found
    for name, state in states.items():
        if state.get("Type") == "Task":
            if name in found:
                raise ValueError(f"task name {name!r} is used twice: mocks are keyed by state name")
            found[name] = state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                _tasks(state[key]["States"], found)
        for branch in state.get("Branches", []):
            _tasks(branch["States"], found)
    return found


def _default_result(resource: str) -> Any:
    if resource.startswith(SYNC_PREFIX):
        # What DescribeExecution answers for the child (``.sync:2`` parses its output).
        return {
            "ExecutionArn": "arn:aws:states:us-east-1:000000000000:execution:child:mocked",
            "Name": "mocked",
            "Status": "SUCCEEDED",
            "Output": {},
        }
    return {}


def _place(asl: Mapping[str, Any], where: str, values: Any, document: dict, results: dict) -> None:
    """Put a value where a Map reads it (its items, what its ItemSelector reads): a task's
    result, or the input."""
    if not re.fullmatch(r"\$(\.[A-Za-z0-9_]+)+", where):
        raise ValueError(f"{where!r}: only $.a.b paths are supported")
    path = where[2:].split(".")
    for name, state in asl["States"].items():
        result_path = state.get("ResultPath")
        if (
            state.get("Type") != "Task"
            or not isinstance(result_path, str)
            or not result_path.startswith("$.")
        ):
            continue
        prefix = result_path[2:].split(".")
        if path[: len(prefix)] == prefix:
            keys = path[len(prefix) :]
            if not keys:
                results[name] = values
                return
            target = results.setdefault(name, {})
            break
    else:
        keys, target = path, document
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = values


def _paths_read(selector: Mapping[str, Any]) -> list[str]:
    """The state-input paths (``$.a.b``) an ItemSelector reads, at any depth."""
    found = []
    for key, value in selector.items():
        if isinstance(value, Mapping):
            found += _paths_read(value)
        elif key.endswith(".$") and isinstance(value, str) and value.startswith("$."):
            found.append(value)
    return found


def _case(machine: str, asl: Mapping[str, Any], path: _Path, document: Mapping[str, Any]) -> MockCase:
    run = simulate(asl, path.errors, path.choices)
    top = [e for e in run.entries if not e.depth]
    tasks = _tasks(asl["States"])
    raised = {state: list(errors) for state, errors in path.errors.items()}
    attempts = Counter(e.state for e in top if e.state in tasks)
    nested: Counter[str] = Counter()
    inputs, results = copy.deepcopy(dict(document)), copy.deepcopy(dict(path.results))
    for entry in top:
        state = asl["States"][entry.state]
        if state["Type"] != "Map":
            continue
        items = list(path.items.get(entry.state, [Item("item-1")]))
        _place(asl, state["ItemsPath"], [i.value for i in items], inputs, results)
        for selected in _paths_read(state.get("ItemSelector", {})):  # what a step hands its items
            _place(asl, selected, {}, inputs, results)
        processor = state.get("ItemProcessor") or state["Iterator"]
        for item in items:
            for inner in simulate(processor, item.errors).entries:
                nested[inner.state] += inner.attempt == 0
                attempts[inner.state] += inner.state in tasks
            for name, errors in item.errors.items():
                raised.setdefault(name, []).extend(errors)
    responses = {}
    for name, count in attempts.items():
        if not count:
            continue
        resource = str(tasks[name]["Resource"])
        failures = [Response.failure(e) for e in raised.get(name, [])][:count]
        result = results.get(name, _default_result(resource))
        responses[name] = tuple(failures + [Response(result)] * (count - len(failures)))
    return MockCase(
        machine=machine,
        name=case_name(path.label),
        path=path.label,
        input=inputs,
        resources={name: str(tasks[name]["Resource"]) for name in responses},
        responses=responses,
        states=tuple(e.state for e in top),
        nested=dict(nested),
        attempts=sum(attempts.values()),
        status=run.status,
        error=run.error,
    )


def _plan(
    machine: str, asl: Mapping[str, Any], paths: Iterable[_Path], document: Mapping[str, Any]
) -> MockPlan:
    """One case per distinct path; a path whose error a mock cannot raise is unreachable."""
    plan, seen = MockPlan(), set()
    tasks = _tasks(asl["States"])
    for path in paths:
        blocked = [s for s in path.errors if s not in tasks]
        if blocked:
            kind = asl["States"][blocked[0]]["Type"]
            reason = f"{blocked[0]} is a {kind}: only a States.* error fails it, and no mock throws one"
            plan.unreachable.append(Unreachable(machine, path.label, reason))
            continue
        case = _case(machine, asl, path, document)
        key = (case.states, tuple(sorted(case.nested.items())), case.attempts, case.status, case.error)
        if key not in seen:  # e.g. a compensation's "permanent" error is retried like a transient one
            seen.add(key)
            plan.cases.append(case)
    return plan


def _from_scenarios(asl: Mapping[str, Any], results: Mapping[str, Any] | None = None) -> list[_Path]:
    return [_Path(s.name, s.errors, results=results or {}) for s in scenarios(asl)]


def _map_item_paths(asl: Mapping[str, Any]) -> list[_Path]:
    """An item failing, and an item retried once, in every top-level Map."""
    found = []
    for name, state in asl["States"].items():
        if state.get("Type") != "Map":
            continue
        processor = state.get("ItemProcessor") or state["Iterator"]
        for task, inner in _tasks(processor["States"]).items():
            fail = Item("item-1", {task: (PERMANENT_ERROR,)})
            found.append(_Path(f"an item fails at {task}", items={name: [fail]}))
            if attempts_to_exhaust(inner, TRANSIENT_ERROR) > 1:
                retry = Item("item-1", {task: (TRANSIENT_ERROR,)})
                found.append(_Path(f"an item retried once at {task}", items={name: [retry]}))
    return found


SAGA_INPUT = {"request": {"project": "mocked"}}


def saga_plan(saga: Saga) -> MockPlan:
    asl = compile_saga(saga)
    return _plan(saga.name, asl, _from_scenarios(asl) + _map_item_paths(asl), SAGA_INPUT)


def rollback_plan(saga: Saga) -> MockPlan:
    asl = compile_rollback(saga)
    return _plan(rollback_name(saga), asl, _from_scenarios(asl), SAGA_INPUT)


def parent_plan(parent: ParentSaga) -> MockPlan:
    """The parent's paths: its tasks' (the cost model's) and the routes its Choices take.

    The summary task is mocked, so its answer (how many children failed, which to
    compensate) is what steers ``AnyProjectFailed``; the rollback Map's outcomes steer
    ``AnyRollbackFailed``.
    """
    asl = compile_parent(parent)

    def project(index: int, *errors: str) -> Item:
        run = {"RunProjectSaga": errors} if errors else {}
        return Item({"request": {"project": f"p{index}"}}, run)

    def rollback(index: int, *errors: str) -> Item:
        undo = {"CompensateProjectSaga": errors} if errors else {}
        return Item(
            {"name": CHILD_SAGA_ID.format("mocked", index), "request": {"project": f"p{index}"}}, undo
        )

    def summary(failed: int) -> dict[str, Any]:
        return {"SummariseProjects": {"failed_count": failed, "to_compensate": []}}

    every_project_succeeds = {"RunProjectSagas": [project(0), project(1)]}
    compensate = {"AnyProjectFailed": "CompensateProjectSagas"}
    paths = [
        _Path(p.label, p.errors, items=every_project_succeeds, results=summary(0))
        for p in _from_scenarios(asl)
    ]
    paths += [
        _Path(
            "a child start retried once",
            items={"RunProjectSagas": [project(0, SFN_TRANSIENT[0]), project(1)]},
            results=summary(0),
        ),
        _Path(
            "the only project fails, none to compensate",
            choices=compensate,
            items={"RunProjectSagas": [project(0, CHILD_FAILED)], "CompensateProjectSagas": []},
            results=summary(1),
        ),
        _Path(
            "a project fails, one compensated",
            choices=compensate,
            items={
                "RunProjectSagas": [project(0), project(1, CHILD_FAILED)],
                "CompensateProjectSagas": [rollback(0)],
            },
            results=summary(1),
        ),
        _Path(
            "a project fails, two compensated",
            choices=compensate,
            items={
                "RunProjectSagas": [project(0), project(1, CHILD_FAILED), project(2)],
                "CompensateProjectSagas": [rollback(0), rollback(2)],
            },
            results=summary(1),
        ),
        _Path(
            "a project fails and a rollback fails",
            choices={**compensate, "AnyRollbackFailed": "CompensationFailed"},
            items={
                "RunProjectSagas": [project(0), project(1, CHILD_FAILED), project(2)],
                "CompensateProjectSagas": [rollback(0, CHILD_FAILED), rollback(2)],
            },
            results=summary(1),
        ),
    ]
    return _plan(parent.name, asl, paths, {})


def plan(sagas: Iterable[Saga], parents: Iterable[ParentSaga] = ()) -> MockPlan:
    """Every case of every machine: the sagas, the rollback machine of each saga with something
    to compensate (a parent's child among them, as ``catalogue.machines`` deploys), the parents."""
    sagas, parents = list(sagas), list(parents)
    found = MockPlan()
    for saga in sagas:
        found.extend(saga_plan(saga))
    for saga in {s.name: s for s in (*sagas, *(p.child for p in parents)) if s.compensable}.values():
        found.extend(rollback_plan(saga))
    for parent in parents:
        found.extend(parent_plan(parent))
    return found


# -- engines -----------------------------------------------------------------------------------


def _returns_payload(resource: str) -> bool:
    """A task whose Resource is the function itself: Step Functions passes on its Payload."""
    key = PLACEHOLDER.fullmatch(resource)
    return bool(key and key.group(1).endswith("FunctionArn")) or ":lambda:" in resource.split(":::")[0]


def localstack_config(cases: Iterable[MockCase]) -> dict[str, Any]:
    """The cases as an ``SFN_MOCK_CONFIG`` document; start case C of machine M as ``<M's ARN>#C``."""
    machines: dict[str, Any] = {}
    mocked: dict[str, Any] = {}
    for case in cases:
        tests = machines.setdefault(case.machine, {"TestCases": {}})["TestCases"]
        if case.name in tests:
            raise ValueError(f"{case.machine}: two cases named {case.name}")
        tests[case.name] = {}
        for state, answers in case.responses.items():
            wrap = _returns_payload(case.resources[state])
            steps = {}
            for index, answer in enumerate(answers):
                body = answer.as_dict()
                if wrap and "Return" in body:
                    body = {"Return": {"StatusCode": 200, "Payload": body["Return"]}}
                steps[str(index)] = body
            response_id = f"{case.machine}.{case.name}.{state}"
            mocked[response_id] = steps
            tests[case.name][state] = response_id
    return {"StateMachines": machines, "MockedResponses": mocked}


@dataclass(frozen=True)
class Observed:
    states: tuple[str, ...]
    nested: Mapping[str, int]
    attempts: int


def observe(events: Sequence[Mapping[str, Any]], asl: Mapping[str, Any]) -> Observed:
    """What an execution's history shows, in a case's terms.

    A retry does not enter its state again: the history schedules the task again inside
    the same entry, so each extra attempt of a top-level task counts as one more entry.
    """
    top_level = asl["States"]
    states: list[str] = []
    nested: Counter[str] = Counter()
    attempts = 0
    current: str | None = None
    scheduled = 0
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name in top_level:
                states.append(name)
                current, scheduled = name, 0
            else:
                nested[name] += 1
        elif kind.endswith("StateExited") and event["stateExitedEventDetails"]["name"] == current:
            current = None
        elif kind in ATTEMPT_EVENTS:
            attempts += 1
            if current is not None and top_level[current]["Type"] == "Task":
                scheduled += 1
                if scheduled > 1:
                    states.append(current)
    return Observed(tuple(states), dict(nested), attempts)
