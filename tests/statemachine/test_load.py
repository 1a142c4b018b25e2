"""Random fault schedules, many sagas at once: the fault matrix's invariants under load.

Hypothesis draws fault schedules (state -> fault, at forward steps and compensations; no
``hang``, so nothing waits on a timeout). Every saga is judged by the matrix's model and
checker; the run counts sagas, faults injected and invariant violations (which must be 0).

    STEPSAGA_LOAD_SAGAS=200 python -m pytest tests/statemachine/test_load.py -s

prints one summary line per test (``load:`` and ``one by one:``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stepsaga.cli.resume import dead_letters
from stepsaga.embedded import EmbeddedStack
from tests.statemachine.test_fault_matrix import (
    COMPENSABLE,
    FORWARD,
    PARTIAL_STEPS,
    _own_dead_letters,  # noqa: F401  (autouse: takes this module's dead letters off the queue)
    check_saga,
    expected_outcome,
    unplanned_retries,
)

pytestmark = [pytest.mark.statemachine, pytest.mark.slow]

SAGAS = int(os.environ.get("STEPSAGA_LOAD_SAGAS", "200"))
COMPENSATIONS = tuple(f"Compensate{step}" for step in COMPENSABLE)
MODES = {  # the faults each state honours (no hang: nothing here waits on a timeout)
    **{
        step: ("transient", "permanent", "exhaust", *(("partial",) if step in PARTIAL_STEPS else ()))
        for step in FORWARD
    },
    **dict.fromkeys(COMPENSATIONS, ("transient", "permanent", "exhaust")),
}


def fault(state: str) -> st.SearchStrategy[dict[str, Any]]:
    """A fault the state honours; ``times`` 1-5 straddles every retry limit (3 to 4 attempts)."""
    return st.builds(
        lambda mode, times: {"mode": mode, "times": times} if mode == "transient" else {"mode": mode},
        st.sampled_from(MODES[state]),
        st.integers(min_value=1, max_value=5),
    )


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """A fault schedule: up to three forward steps and up to one compensation, each with a
    fault it honours (a compensation fault only bites if the saga rolls back through it)."""
    states = draw(st.lists(st.sampled_from(FORWARD), unique=True, max_size=3))
    states += draw(st.lists(st.sampled_from(COMPENSATIONS), max_size=1))
    return {state: draw(fault(state)) for state in states}


def draw_schedules(count: int) -> list[dict[str, dict[str, Any]]]:
    """``count`` distinct schedules from hypothesis' generator (derandomized: the same every run)."""
    drawn: list[dict[str, dict[str, Any]]] = []

    @settings(
        max_examples=2 * count,  # some draws repeat; generating them costs next to nothing
        phases=[Phase.generate],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(schedules())
    def collect(schedule: dict[str, dict[str, Any]]) -> None:
        if schedule not in drawn:
            drawn.append(schedule)

    collect()
    return drawn[:count]


def reached(schedule: dict[str, Any], path: tuple[str, ...]) -> int:
    """How many of the schedule's faults sit on a state the saga entered (really injected)."""
    return sum(state in path for state in schedule)


def test_concurrent_sagas_with_random_fault_schedules_keep_every_invariant(
    stack: EmbeddedStack, request_doc: dict[str, Any]
) -> None:
    schedules_ = draw_schedules(SAGAS)
    assert len(schedules_) >= SAGAS * 0.9, f"hypothesis drew only {len(schedules_)} distinct schedules"
    run = uuid.uuid4().hex[:8]
    began = time.perf_counter()
    started = [
        (
            f"load-{run}-{n:04d}",
            schedule,
            stack.start(request_doc, faults=schedule, name=f"load-{run}-{n:04d}"),
        )
        for n, schedule in enumerate(schedules_)
    ]
    all_started = time.perf_counter() - began
    finished = [(name, schedule, stack.wait(arn, timeout=600)) for name, schedule, arn in started]
    wall = time.perf_counter() - began

    letters = dead_letters(stack)
    violations: list[str] = []
    unplanned: list[str] = []
    outcomes: Counter[str] = Counter()
    injected = scheduled_faults = 0
    for name, schedule, described in finished:
        expected = expected_outcome(schedule, request_doc)
        history = stack.history(described["executionArn"])
        violations += check_saga(
            stack,
            name,
            described,
            expected,
            request_doc,
            letters=letters,
            history=history,
            exact_attempts=False,
        )
        unplanned += unplanned_retries(history, expected)
        outcomes[expected.terminal] += 1
        scheduled_faults += len(schedule)
        injected += reached(schedule, expected.path)
    checked = time.perf_counter() - began - wall

    print(
        f"\nload: {len(finished)} sagas, {injected} faults injected ({scheduled_faults} scheduled), "
        f"{len(violations)} invariant violations; outcomes {dict(sorted(outcomes.items()))}; "
        f"{len(unplanned)} retries absorbed errors nobody injected {sorted(Counter(unplanned).items())}; "
        f"wall {wall:.1f} s (all started after {all_started:.1f} s), checks {checked:.1f} s"
    )
    assert violations == [], "\n".join(violations[:50])


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    """What the one-by-one test ran, printed once its examples are done."""
    counts: Counter[str] = Counter()
    yield counts
    print(
        f"\none by one: {counts['sagas']} sagas, {counts['injected']} faults injected, "
        f"{counts['violations']} invariant violations"
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=schedules())
def test_random_fault_schedules_one_by_one_keep_every_invariant(
    stack: EmbeddedStack,
    request_doc: dict[str, Any],
    tally: Counter[str],
    schedule: dict[str, dict[str, Any]],
) -> None:
    name = f"hyp-{uuid.uuid4().hex[:12]}"
    described = stack.run(request_doc, faults=schedule, name=name)
    expected = expected_outcome(schedule, request_doc)
    violations = check_saga(stack, name, described, expected, request_doc)
    tally.update(sagas=1, injected=reached(schedule, expected.path), violations=len(violations))
    assert violations == [], "\n".join(violations)
