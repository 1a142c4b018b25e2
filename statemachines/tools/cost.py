"""What a saga costs, path by path, from its compiled ASL.

    stepsaga cost [--saga test-generation] [--duration-ms 100] [--memory-mb 256]
                  [--state-duration-ms Execution=60000 ...] [--express-memory-mb 64]
                  [--map-items 10] [--json | --markdown] [--check]

Standard workflows are billed per state transition: every state entered is one, and so is
every retry attempt of a Task (the execution's start is not). The figures here come from
simulating the compiled ASL (``statemachines.compile_saga``), not from the declaration, so
they describe what AWS would actually bill. The simulator is generic over ASL (Task, Pass,
Wait, Choice, Succeed, Fail, Map, Parallel; Next/End; Retry; Catch): a scenario says which
error each attempt of a state raises, and the ASL decides where that leads.

Paths costed, per forward step: a permanent failure (rolled back through the Catch chain),
one retry then success, retries exhausted (then rolled back); plus the happy path, every
specifically caught error (``InvalidRequest`` at the first step: "bad input"), and each
compensation exhausting its retries (``ReportCompensationFailure`` -> ``CompensationFailed``).

``sample_design`` rewrites the ASL the way the public saga samples wire their rollback (a
Pass state on every compensation entry, and a compensation state for every step, a no-op
Pass where the step has nothing to undo) so the two designs can be compared path by path.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from statemachines.saga import (
    INVALID_REQUEST,
    PERMANENT_ERROR,
    PLACEHOLDER,
    ROLLED_BACK,
    SUCCEEDED,
    Saga,
    compile_saga,
)
from statemachines.tools import prices

# -- prices (us-east-1, with their date and source: statemachines.tools.prices) ------------------

STANDARD_PER_TRANSITION = prices.STANDARD_TRANSITION.each  # $0.025 per 1,000
LAMBDA_PER_REQUEST = prices.LAMBDA_REQUEST.each  # $0.20 per million
LAMBDA_PER_GB_SECOND = prices.LAMBDA_GB_SECOND.each
EXPRESS_PER_REQUEST = prices.EXPRESS_REQUEST.each  # $1.00 per million
EXPRESS_PER_GB_SECOND = prices.EXPRESS_GB_SECOND.each
EXPRESS_MEMORY_CHUNK_MB = 64  # Express bills memory in 64 MB chunks ...
EXPRESS_DURATION_STEP_MS = 100  # ... and duration rounded up to the next 100 ms
EXPRESS_MAX_SECONDS = 300
MILLION = 1_000_000

# The error an agent raises when a retry may help (functions.common.errors.AgentTransientError).
TRANSIENT_ERROR = "AgentTransientError"

# ASL defaults when a retrier omits them.
_DEFAULT_MAX_ATTEMPTS = 3
_DEFAULT_INTERVAL_SECONDS = 1.0
_DEFAULT_BACKOFF_RATE = 2.0

_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:")


class UnsupportedState(ValueError):
    """The simulator met a state type it does not model."""


# -- the simulator -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One billed transition: a state entered, or a retry attempt of a Task.

    ``depth`` is 0 for the top level and 1+ inside a Map iteration or Parallel branch.
    """

    state: str
    attempt: int = 0
    invokes_lambda: bool = False
    depth: int = 0


@dataclass(frozen=True)
class Run:
    entries: tuple[Entry, ...]
    status: str  # SUCCEEDED | FAILED
    end: str  # the terminal state, or the state whose error nothing caught
    error: str | None = None
    wait_seconds: float = 0.0  # retry back-off (and Wait states): not billed on Standard

    @property
    def transitions(self) -> int:
        return len(self.entries)

    @property
    def nested_transitions(self) -> int:
        """Transitions inside Map iterations and Parallel branches."""
        return sum(1 for e in self.entries if e.depth)

    @property
    def invocations(self) -> int:
        return sum(1 for e in self.entries if e.invokes_lambda)

    @property
    def states(self) -> list[str]:
        """Top-level state names in the order entered; a retried Task appears once per attempt."""
        return [e.state for e in self.entries if not e.depth]

    def lambda_states(self) -> list[str]:
        return [e.state for e in self.entries if e.invokes_lambda]


def invokes_lambda(state: Mapping[str, Any]) -> bool:
    """Whether a Task invokes a Lambda function (each attempt is one invocation)."""
    if state.get("Type") != "Task":
        return False
    resource = str(state.get("Resource", ""))
    placeholder = PLACEHOLDER.fullmatch(resource)
    return bool(
        (placeholder and placeholder.group(1).endswith("FunctionArn"))
        or resource.startswith("arn:aws:states:::lambda:invoke")
        or _LAMBDA_ARN.match(resource)
    )


def _matches(error: str, equals: Sequence[str]) -> bool:
    if error in equals:
        return True
    if "States.ALL" in equals:
        return error != "States.Runtime"  # the one error States.ALL does not catch
    if "States.TaskFailed" in equals:
        return error not in ("States.Timeout", "States.HeartbeatTimeout", "States.Runtime")
    return False


def first_match(rules: Sequence[Mapping[str, Any]], error: str) -> int | None:
    for index, rule in enumerate(rules):
        if _matches(error, rule.get("ErrorEquals", [])):
            return index
    return None


def _retry_delay(retrier: Mapping[str, Any], done: int) -> float:
    delay = float(retrier.get("IntervalSeconds", _DEFAULT_INTERVAL_SECONDS)) * float(
        retrier.get("BackoffRate", _DEFAULT_BACKOFF_RATE)
    ) ** float(done)
    cap = retrier.get("MaxDelaySeconds")
    return min(delay, float(cap)) if cap is not None else delay


def attempts_to_exhaust(state: Mapping[str, Any], error: str) -> int:
    """How many attempts raising ``error`` it takes before the state's Catch applies."""
    retry = state.get("Retry", [])
    index = first_match(retry, error)
    if index is None:
        return 1
    return 1 + int(retry[index].get("MaxAttempts", _DEFAULT_MAX_ATTEMPTS))


class _Walk:
    """One execution: the transitions so far, the errors still to raise, the time waited."""

    def __init__(
        self,
        errors: Mapping[str, Sequence[str]] | None,
        choices: Mapping[str, str] | None,
        items: int,
        limit: int,
    ) -> None:
        self.pending = {name: list(raised) for name, raised in (errors or {}).items()}
        self.choices = dict(choices or {})
        self.items = items
        self.limit = limit
        self.entries: list[Entry] = []
        self.waited = 0.0

    def enter(self, name: str, depth: int, attempt: int = 0, lam: bool = False) -> None:
        if len(self.entries) >= self.limit:
            raise RuntimeError(f"more than {self.limit} transitions: does the ASL loop?")
        self.entries.append(Entry(name, attempt, lam, depth))

    def machine(self, machine: Mapping[str, Any], depth: int) -> tuple[str, str, str | None]:
        """Run a state machine (or a branch, or an iteration): (status, end state, error)."""
        states: Mapping[str, Any] = machine["States"]
        name: str = machine["StartAt"]
        while True:
            if name not in states:
                raise KeyError(f"state {name!r} is not defined")
            state = states[name]
            kind = state.get("Type")
            if kind == "Succeed":
                self.enter(name, depth)
                return "SUCCEEDED", name, None
            if kind == "Fail":
                self.enter(name, depth)
                return "FAILED", name, state.get("Error")
            if kind in ("Task", "Map", "Parallel"):
                failed, target = self.work(name, state, depth)
                if failed:
                    return "FAILED", name, target
                if target:
                    name = target
                    continue
            elif kind == "Pass":
                self.enter(name, depth)
            elif kind == "Wait":
                self.enter(name, depth)
                self.waited += float(state.get("Seconds", 0))
            elif kind == "Choice":
                self.enter(name, depth)
                chosen = self.choices.get(name) or state.get("Default")
                if not chosen:
                    raise ValueError(f"{name}: Choice state without Default; pass choices={{{name!r}: ...}}")
                name = chosen
                continue
            else:
                raise UnsupportedState(f"{name}: unknown state type {kind!r}")
            if state.get("End"):
                return "SUCCEEDED", name, None
            name = state["Next"]

    def work(self, name: str, state: Mapping[str, Any], depth: int) -> tuple[bool, str | None]:
        """Attempts of a Task, Map or Parallel with its Retry and Catch.

        Returns (False, caught Next or None to go on) or (True, the uncaught error).
        """
        retry = state.get("Retry", [])
        used = [0] * len(retry)
        attempt = 0
        while True:
            self.enter(name, depth, attempt, invokes_lambda(state))
            error = self.inner(state, depth)
            queue = self.pending.get(name)
            if error is None and queue:
                error = queue.pop(0)
            if error is None:
                return False, None
            index = first_match(retry, error)
            if index is not None and used[index] < int(
                retry[index].get("MaxAttempts", _DEFAULT_MAX_ATTEMPTS)
            ):
                self.waited += _retry_delay(retry[index], used[index])
                used[index] += 1
                attempt += 1
                continue
            catch = state.get("Catch", [])
            target = first_match(catch, error)
            if target is None:
                return True, error
            return False, str(catch[target]["Next"])

    def inner(self, state: Mapping[str, Any], depth: int) -> str | None:
        """Run a Map's iterations or a Parallel's branches; the first uncaught error, if any."""
        runs: list[Mapping[str, Any]]
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if not processor:
                raise UnsupportedState("a Map state without ItemProcessor")
            runs = [processor] * self.items
        elif state["Type"] == "Parallel":
            runs = list(state.get("Branches", []))
        else:
            return None
        for run in runs:
            status, _, error = self.machine(run, depth + 1)
            if status == "FAILED":
                return error or "States.BranchFailed"
        return None


def simulate(
    asl: Mapping[str, Any],
    errors: Mapping[str, Sequence[str]] | None = None,
    choices: Mapping[str, str] | None = None,
    *,
    items: int = 1,
    limit: int = 100_000,
) -> Run:
    """Walk the ASL from ``StartAt``.

    ``errors[state]`` lists the error raised by successive attempts of that state (attempts
    past the list succeed; a Map or Parallel raises it after its iterations or branches ran).
    ``choices[state]`` picks a Choice state's next state (its ``Default`` otherwise). A Map
    runs ``items`` iterations, one after another (a Distributed Map is counted as inline:
    its child executions' own billing is not modelled).
    """
    walk = _Walk(errors, choices, items, limit)
    status, end, error = walk.machine(asl, 0)
    return Run(tuple(walk.entries), status, end, error, walk.waited)


# -- the paths of a saga -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # happy | caught | permanent | retry | exhausted | compensation-failed
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    step: str | None = None
    index: int | None = None  # 1-based position of the failing forward step


def forward_steps(asl: Mapping[str, Any]) -> list[str]:
    """The top-level Task, Map and Parallel states of the happy path, in order."""
    states = asl["States"]
    work = ("Task", "Map", "Parallel")
    return [name for name in simulate(asl).states if states[name]["Type"] in work]


def scenarios(asl: Mapping[str, Any]) -> list[Scenario]:
    """Every path worth pricing, derived from the ASL."""
    states = asl["States"]
    steps = forward_steps(asl)
    found = [Scenario("happy", "happy")]
    for index, step in enumerate(steps, start=1):
        for catcher in states[step].get("Catch", []):
            equals = catcher.get("ErrorEquals", [])
            if "States.ALL" in equals or not equals:
                continue
            error = equals[0]
            label = "bad input" if error == INVALID_REQUEST else f"{error} at {step}"
            found.append(Scenario(label, "caught", {step: (error,)}, step, index))
    for index, step in enumerate(steps, start=1):
        found.append(
            Scenario(f"fail at {step} ({index})", "permanent", {step: (PERMANENT_ERROR,)}, step, index)
        )
    # Retry paths only where the state retries an agent's transient error at all.
    retried = [
        (i, s) for i, s in enumerate(steps, start=1) if attempts_to_exhaust(states[s], TRANSIENT_ERROR) > 1
    ]
    for index, step in retried:
        found.append(Scenario(f"retry once at {step}", "retry", {step: (TRANSIENT_ERROR,)}, step, index))
    for index, step in retried:
        exhaust = (TRANSIENT_ERROR,) * attempts_to_exhaust(states[step], TRANSIENT_ERROR)
        found.append(Scenario(f"retries exhausted at {step}", "exhausted", {step: exhaust}, step, index))
    # Each compensation of the longest rollback exhausting its retries.
    last = steps[-1]
    rollback = simulate(asl, {last: (PERMANENT_ERROR,)})
    after = rollback.states[rollback.states.index(last) + 1 :]
    for compensation in [s for s in after if states[s]["Type"] == "Task"]:
        exhaust = (TRANSIENT_ERROR,) * attempts_to_exhaust(states[compensation], TRANSIENT_ERROR)
        found.append(
            Scenario(
                f"{compensation} fails (after fail at {last})",
                "compensation-failed",
                {last: (PERMANENT_ERROR,), compensation: exhaust},
                last,
                len(steps),
            )
        )
    return found


# -- Express eligibility -----------------------------------------------------------------------


def _all_states(states: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = []
    for name, state in states.items():
        found.append((name, state))
        for branch in state.get("Branches", []):
            found += _all_states(branch.get("States", {}))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found += _all_states(state[key].get("States", {}))
    return found


def express_ineligibility(asl: Mapping[str, Any]) -> list[str]:
    """Why the workflow cannot run as Express (empty when it can)."""
    reasons = []
    for name, state in _all_states(asl["States"]):
        resource = str(state.get("Resource", ""))
        if resource.endswith(".waitForTaskToken"):
            reasons.append(f"{name} is a .waitForTaskToken callback (Express: request-response only)")
        elif resource.endswith(".sync") or ".sync:" in resource:
            reasons.append(f"{name} is a .sync job (Express: request-response only)")
        elif ":activity:" in resource:
            reasons.append(f"{name} is an activity (not supported by Express)")
        if (
            state.get("Type") == "Map"
            and state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
        ):
            reasons.append(f"{name} is a Distributed Map (needs a Standard parent)")
    timeout = asl.get("TimeoutSeconds")
    if timeout is None:
        reasons.append(f"no TimeoutSeconds: nothing bounds the execution to {EXPRESS_MAX_SECONDS} s")
    elif int(timeout) > EXPRESS_MAX_SECONDS:
        reasons.append(f"TimeoutSeconds {timeout} s can exceed Express's {EXPRESS_MAX_SECONDS} s limit")
    return reasons


# -- pricing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumptions:
    duration_ms: float = 100.0  # average billed duration of one Lambda invocation
    memory_mb: int = 256  # the stack's functions (infra/stack.py)
    express_memory_mb: int = 64  # memory an Express execution is billed for (64 MB chunks)
    map_items: int = 10  # iterations of each Map state (inline: every item's transitions are billed)
    state_duration_ms: Mapping[str, float] = field(default_factory=dict)  # per-state overrides

    def duration_of(self, state: str) -> float:
        return float(self.state_duration_ms.get(state, self.duration_ms))


@dataclass(frozen=True)
class PathCost:
    name: str
    kind: str
    step: str | None
    index: int | None
    transitions: int
    lambda_invocations: int
    status: str
    end: str
    states: list[str]
    duration_s: float  # Lambda time plus retry back-off, one attempt after another
    standard_usd_per_million: float
    lambda_usd_per_million: float
    total_usd_per_million: float
    express_usd_per_million: float | None = None
    nested_transitions: int = 0  # inside Map iterations / Parallel branches (part of transitions)
    sample_transitions: int | None = None
    limit: int | None = None  # the target for this path (top-level transitions), if any

    @property
    def within_limit(self) -> bool | None:
        if self.limit is None:
            return None
        return self.transitions - self.nested_transitions <= self.limit


def lambda_usd(run: Run, assume: Assumptions) -> float:
    """Lambda requests plus compute for one execution of ``run``."""
    gb = assume.memory_mb / 1024
    seconds = sum(assume.duration_of(s) for s in run.lambda_states()) / 1000
    return run.invocations * LAMBDA_PER_REQUEST + gb * seconds * LAMBDA_PER_GB_SECOND


def express_usd(duration_s: float, assume: Assumptions) -> float:
    """One Express execution: the request plus its duration at the billed memory."""
    chunks = max(1, math.ceil(assume.express_memory_mb / EXPRESS_MEMORY_CHUNK_MB))
    gb = chunks * EXPRESS_MEMORY_CHUNK_MB / 1024
    billed_ms = max(1, math.ceil(round(duration_s * 1000, 6) / EXPRESS_DURATION_STEP_MS))
    return EXPRESS_PER_REQUEST + gb * billed_ms * EXPRESS_DURATION_STEP_MS / 1000 * EXPRESS_PER_GB_SECOND


def _limit(scenario: Scenario, steps: int) -> int | None:
    if scenario.kind == "happy":
        return steps + 1
    if scenario.kind == "permanent" and scenario.index is not None:
        return 2 * scenario.index + 1
    return None


@dataclass(frozen=True)
class Report:
    saga: str
    steps: list[str]
    assumptions: Assumptions
    express_reasons: list[str]
    paths: list[PathCost]

    @property
    def express_eligible(self) -> bool:
        return not self.express_reasons

    def path(self, name: str) -> PathCost:
        for path in self.paths:
            if path.name == name:
                return path
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        assume = asdict(self.assumptions)
        assume["state_duration_ms"] = dict(self.assumptions.state_duration_ms)
        return {
            "saga": self.saga,
            "steps": self.steps,
            "prices_usd": {
                "standard_per_transition": STANDARD_PER_TRANSITION,
                "lambda_per_request": LAMBDA_PER_REQUEST,
                "lambda_per_gb_second": LAMBDA_PER_GB_SECOND,
                "express_per_request": EXPRESS_PER_REQUEST,
                "express_per_gb_second": EXPRESS_PER_GB_SECOND,
            },
            "assumptions": assume,
            "express": {"eligible": self.express_eligible, "reasons": self.express_reasons},
            "paths": [{**asdict(p), "within_limit": p.within_limit} for p in self.paths],
            "targets_met": all(p.within_limit is not False for p in self.paths),
        }


def price(
    asl: Mapping[str, Any],
    *,
    name: str = "saga",
    assume: Assumptions | None = None,
    sample: Mapping[str, Any] | None = None,
) -> Report:
    """Price every path of ``asl`` (and count the same paths on ``sample``, if given)."""
    assume = assume or Assumptions()
    reasons = express_ineligibility(asl)
    steps = forward_steps(asl)
    paths = []
    for scenario in scenarios(asl):
        run = simulate(asl, scenario.errors, items=assume.map_items)
        lambda_seconds = sum(assume.duration_of(s) for s in run.lambda_states()) / 1000
        duration = lambda_seconds + run.wait_seconds
        standard = run.transitions * STANDARD_PER_TRANSITION * MILLION
        lam = lambda_usd(run, assume) * MILLION
        paths.append(
            PathCost(
                name=scenario.name,
                kind=scenario.kind,
                step=scenario.step,
                index=scenario.index,
                transitions=run.transitions,
                lambda_invocations=run.invocations,
                status=run.status,
                end=run.end,
                states=run.states,
                duration_s=round(duration, 6),
                standard_usd_per_million=round(standard, 4),
                lambda_usd_per_million=round(lam, 4),
                total_usd_per_million=round(standard + lam, 4),
                express_usd_per_million=None
                if reasons
                else round(express_usd(duration, assume) * MILLION, 4),
                nested_transitions=run.nested_transitions,
                sample_transitions=(
                    simulate(sample, scenario.errors, items=assume.map_items).transitions if sample else None
                ),
                limit=_limit(scenario, len(steps)),
            )
        )
    return Report(name, steps, assume, reasons, paths)


def price_saga(saga: Saga, assume: Assumptions | None = None) -> Report:
    return price(compile_saga(saga), name=saga.name, assume=assume, sample=sample_design(saga))


# -- the public samples' design ----------------------------------------------------------------


def sample_design(saga: Saga) -> dict[str, Any]:
    """The saga's ASL rewired the way the public saga samples wire their rollback.

    Every step's ``Catch States.ALL`` goes to a Pass state (``<Step>Failed``) that enters a
    compensation chain holding one state per step, in reverse order: the step's compensation
    Task, or a no-op Pass for a step with nothing to undo. Everything else (retries, the
    failure reporter, the Fail states) is the compiled ASL unchanged.
    """
    asl = copy.deepcopy(compile_saga(saga))
    states: dict[str, Any] = asl["States"]
    taken = set(states)
    chain: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    previous = ROLLED_BACK
    for step in saga.steps:
        compensation = step.compensation_state
        if compensation in states:
            chain[compensation] = {**states[compensation], "Next": previous}
        else:
            chain[compensation] = {
                "Type": "Pass",
                "Comment": f"{step.name} has nothing to undo (no-op)",
                "ResultPath": None,
                "Next": previous,
            }
        entry = f"{step.name}Failed"
        while entry in taken:
            entry += "X"
        taken.add(entry)
        entries[step.name] = (
            entry,
            {
                "Type": "Pass",
                "Comment": f"{step.name} failed: roll back",
                "ResultPath": None,
                "Next": compensation,
            },
        )
        for catcher in states[step.name].get("Catch", []):
            if "States.ALL" in catcher["ErrorEquals"]:
                catcher["Next"] = entry
        previous = compensation
    ordered: dict[str, Any] = {}
    for step in saga.steps:
        ordered[step.name] = states[step.name]
    ordered[SUCCEEDED] = states[SUCCEEDED]
    for step in reversed(saga.steps):
        entry, state = entries[step.name]
        ordered[entry] = state
    for step in reversed(saga.steps):
        ordered[step.compensation_state] = chain[step.compensation_state]
    for name, state in states.items():
        ordered.setdefault(name, state)
    asl["States"] = ordered
    asl["Comment"] = f"{saga.comment} (rewired as the public saga samples do, for comparison)"
    return asl


# -- output ------------------------------------------------------------------------------------

_COLUMNS = ("path", "transitions", "Lambda invocations", "Step Functions $/M", "Lambda $/M", "total $/M")


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _rows(report: Report) -> list[list[str]]:
    rows = []
    for p in report.paths:
        row = [
            p.name,
            str(p.transitions),
            str(p.lambda_invocations),
            _money(p.standard_usd_per_million),
            _money(p.lambda_usd_per_million),
            _money(p.total_usd_per_million),
        ]
        if report.express_eligible:
            row.append(_money(p.express_usd_per_million))
        rows.append(row)
    return rows


def _columns(report: Report) -> list[str]:
    return [*_COLUMNS, "Express $/M (+ Lambda)"] if report.express_eligible else list(_COLUMNS)


def _comparison_rows(report: Report) -> list[list[str]]:
    rows = []
    for p in report.paths:
        if p.sample_transitions is None:
            continue
        extra = p.sample_transitions - p.transitions
        rows.append(
            [
                p.name,
                str(p.transitions),
                str(p.sample_transitions),
                f"{extra:+d}",
                _money(extra * STANDARD_PER_TRANSITION * MILLION),
            ]
        )
    return rows


_COMPARISON = ("path", "stepsaga", "samples' design", "extra", "extra $/M")


def _express_line(report: Report) -> str:
    if report.express_eligible:
        return (
            f"Express: eligible; priced at $1.00/M requests + $0.00001667/GB-s, "
            f"{report.assumptions.express_memory_mb} MB billed, duration rounded up to 100 ms "
            "(Lambda is billed on top, as for Standard)."
        )
    return "Express: not eligible (" + "; ".join(report.express_reasons) + ")"


def _target_lines(report: Report) -> list[str]:
    def top(p: PathCost) -> str:
        nested = f" (+{p.nested_transitions} inside Map/Parallel)" if p.nested_transitions else ""
        return f"{p.transitions - p.nested_transitions}{nested}"

    lines = []
    for p in (p for p in report.paths if p.kind == "happy"):
        mark = "ok" if p.within_limit else "MISSED"
        lines.append(f"happy path: {top(p)} transitions <= steps + 1 = {p.limit}: {mark}")
    failures = [p for p in report.paths if p.kind == "permanent"]
    if failures:
        missed = [p for p in failures if not p.within_limit]
        each = ", ".join(f"k={p.index}: {top(p)} <= {p.limit}" for p in failures)
        lines.append(f"failure at step k: <= 2k + 1 ({each}): {'ok' if not missed else 'MISSED'}")
    return lines


def _assumption_line(report: Report) -> str:
    a = report.assumptions
    overrides = ", ".join(f"{k} {v:g} ms" for k, v in a.state_duration_ms.items())
    return (
        f"Prices us-east-1: Standard $0.025/1,000 transitions; Lambda $0.20/M requests + "
        f"$0.0000166667/GB-s at {a.memory_mb} MB, {a.duration_ms:g} ms per invocation"
        + (f" ({overrides})" if overrides else "")
        + ". $/M = dollars per million sagas taking that path."
        + (
            f" Each Map state runs {a.map_items} items (--map-items)."
            if any(p.nested_transitions for p in report.paths)
            else ""
        )
    )


def render_text(report: Report) -> str:
    def table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

        def line(cells: Sequence[str]) -> str:
            padded = [cells[0].ljust(widths[0])]
            padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join(padded)

        return [line(columns), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]

    lines = [f"saga {report.saga}: {len(report.steps)} steps ({' -> '.join(report.steps)})", ""]
    lines += table(_columns(report), _rows(report))
    lines += ["", _assumption_line(report), _express_line(report), ""]
    lines += ["Targets:", *(f"  {t}" for t in _target_lines(report))]
    comparison = _comparison_rows(report)
    if comparison:
        lines += ["", "Against the public samples' design (Pass on every rollback entry, a compensation"]
        lines += ["state for every step, a no-op Pass where nothing is undone):", ""]
        lines += table(_COMPARISON, comparison)
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    def table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
        right = ["---"] + ["---:"] * (len(columns) - 1)
        out = ["| " + " | ".join(columns) + " |", "|" + "|".join(right) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return out

    lines = [f"Saga `{report.saga}`: {len(report.steps)} steps ({' → '.join(report.steps)}).", ""]
    lines += table(_columns(report), _rows(report))
    lines += ["", _assumption_line(report), "", _express_line(report), ""]
    lines += [f"- {t}" for t in _target_lines(report)]
    comparison = _comparison_rows(report)
    if comparison:
        lines += ["", "Against the public samples' design:", ""]
        lines += table(_COMPARISON, comparison)
    return "\n".join(lines) + "\n"


# -- a path priced from the calls it made (measured on the embedded stack: bench.cost_measured) --

KB = 1024
WRITE_UNIT_BYTES = 1 * KB  # on-demand: one write request unit per KB written (rounded up, per item)
READ_UNIT_BYTES = 4 * KB  # one read request unit per 4 KB read strongly consistent (half if eventually)
SQS_CHUNK_BYTES = 64 * KB  # an SQS or EventBridge request is billed per 64 KB chunk of payload
TRANSACTIONS = ("TransactWriteItems", "TransactGetItems")  # twice the units of a plain write or read
S3_PUT_CLASS = frozenset(
    {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListBuckets"}
    | {"CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload"}
)
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


@dataclass(frozen=True)
class Call:
    """One AWS API call a saga made, with what it moved.

    ``written``: per item written, the larger of its size before and after (DynamoDB's rule), and
    one more entry per global secondary index the write touched. ``read``: per read unit of
    account (an item for GetItem, BatchGetItem and TransactGetItems; the whole page for Query and
    Scan), its bytes. ``payload``: the message bytes of an SQS or EventBridge request.
    """

    service: str
    operation: str
    written: tuple[int, ...] = ()
    read: tuple[int, ...] = ()
    consistent: bool = False
    payload: int = 0
    tables: tuple[str, ...] = ()  # the DynamoDB tables written or read, one per item written


def write_units(call: Call) -> float:
    per_item = sum(max(1, math.ceil(size / WRITE_UNIT_BYTES)) for size in call.written)
    return per_item * (2 if call.operation in TRANSACTIONS else 1)


def read_units(call: Call) -> float:
    units = sum(max(1, math.ceil(size / READ_UNIT_BYTES)) for size in call.read)
    if call.operation in TRANSACTIONS:
        return units * 2.0
    return float(units) if call.consistent else units / 2


def chunks(payload: int) -> int:
    return max(1, math.ceil(payload / SQS_CHUNK_BYTES))


@dataclass(frozen=True)
class Measured:
    """What one saga taking one path used: its API calls and what the services record of it."""

    path: str
    calls: tuple[Call, ...]
    transitions: int  # states entered plus retry attempts, from the execution's history
    lambda_invocations: int  # by Step Functions and by event rules
    lambda_log_bytes: int  # the lines the functions wrote (Powertools logs, EMF metrics, platform lines)
    machine_log_bytes: int  # the state machine's log at level ALL, with execution data
    metrics: int  # EMF metric values emitted
    traces: int = 1  # one X-Ray trace per execution (the functions' segments join it)
    segments: int = 0

    def count(self, service: str, operation: str | None = None) -> int:
        return sum(1 for c in self.calls if c.service == service and operation in (None, c.operation))


@dataclass(frozen=True)
class Bill:
    path: str
    lines: dict[str, float]  # line item -> dollars per million sagas
    units: dict[str, float]  # line item -> billed units per saga
    unpriced: dict[str, int]  # calls no price applies to (free, or billed per transition)

    @property
    def total(self) -> float:
        return sum(self.lines.values())

    def largest(self, n: int = 3) -> list[tuple[str, float]]:
        return sorted(self.lines.items(), key=lambda line: -line[1])[:n]


def bill(measured: Measured, assume: Assumptions | None = None) -> Bill:
    """Dollars per million sagas taking ``measured.path``, line by line (pure arithmetic)."""
    assume = assume or Assumptions()
    units: dict[str, float] = {
        "Step Functions transitions": measured.transitions,
        "Lambda requests": measured.lambda_invocations,
        "Lambda GB-seconds": measured.lambda_invocations
        * assume.duration_ms
        / 1000
        * assume.memory_mb
        / 1024,
        "DynamoDB write units": 0.0,
        "DynamoDB read units": 0.0,
        "S3 PUT/LIST requests": 0,
        "S3 GET requests": 0,
        "SQS requests": 0,
        "EventBridge events": 0,
        "Lambda logs GB": measured.lambda_log_bytes / 1024**3,
        "state machine logs GB": measured.machine_log_bytes / 1024**3,
        "X-Ray traces": measured.traces,
    }
    unpriced: dict[str, int] = {}
    for call in measured.calls:
        if call.service == "dynamodb":
            units["DynamoDB write units"] += write_units(call)
            units["DynamoDB read units"] += read_units(call)
        elif call.service == "s3" and call.operation not in S3_FREE:
            units["S3 PUT/LIST requests" if call.operation in S3_PUT_CLASS else "S3 GET requests"] += 1
        elif call.service == "sqs":
            units["SQS requests"] += chunks(call.payload)
        elif call.service == "events" and call.operation == "PutEvents":
            units["EventBridge events"] += chunks(call.payload)
        elif not (call.service == "lambda" and call.operation == "Invoke"):  # in Lambda requests
            key = f"{call.service}.{call.operation}"
            unpriced[key] = unpriced.get(key, 0) + 1
    price_of = {
        "Step Functions transitions": prices.STANDARD_TRANSITION,
        "Lambda requests": prices.LAMBDA_REQUEST,
        "Lambda GB-seconds": prices.LAMBDA_GB_SECOND,
        "DynamoDB write units": prices.DYNAMODB_WRITE_UNIT,
        "DynamoDB read units": prices.DYNAMODB_READ_UNIT,
        "S3 PUT/LIST requests": prices.S3_PUT,
        "S3 GET requests": prices.S3_GET,
        "SQS requests": prices.SQS_REQUEST,
        "EventBridge events": prices.EVENTS_PUT,
        "Lambda logs GB": prices.LOGS_INGESTED_GB,
        "state machine logs GB": prices.LOGS_INGESTED_GB,
        "X-Ray traces": prices.XRAY_TRACE_RECORDED,
    }
    lines = {item: count * price_of[item].each * MILLION for item, count in units.items()}
    return Bill(measured.path, lines, units, unpriced)


_BILL_COLUMNS = ("path", "total $/M", "largest line items ($/M)", "DynamoDB WRU / RRU", "log KB", "calls")


def render_bills(measured: Sequence[Measured], assume: Assumptions | None = None) -> str:
    """A markdown table: dollars per million sagas per path, the largest line items named."""
    assume = assume or Assumptions()
    lines = ["| " + " | ".join(_BILL_COLUMNS) + " |", "|---|---:|---|---:|---:|---:|"]
    for m in measured:
        b = bill(m, assume)
        top = ", ".join(f"{item} {usd:,.2f}" for item, usd in b.largest(3))
        wru, rru = b.units["DynamoDB write units"], b.units["DynamoDB read units"]
        logs = (m.lambda_log_bytes + m.machine_log_bytes) / KB
        lines.append(
            f"| {m.path} | {b.total:,.2f} | {top} | {wru:g} / {rru:g} | {logs:,.1f} | {len(m.calls)} |"
        )
    lines += [
        "",
        f"Lambda: {assume.duration_ms:g} ms per invocation at {assume.memory_mb} MB. Logs at $0.50/GB "
        "ingested; one X-Ray trace per saga (all sampled). Custom metrics are billed per metric and "
        "month, not per saga: not in the totals. Prices: statemachines/tools/prices.py.",
    ]
    return "\n".join(lines) + "\n"
