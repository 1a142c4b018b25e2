"""functions/common/faults.py: injected faults, per state and attempt."""

from __future__ import annotations

import pytest

from functions.common.errors import AgentPermanentError, AgentTransientError
from functions.common.faults import FaultPlan
from functions.common.models import Fault, StepContext

pytestmark = pytest.mark.unit


def _ctx(state: str = "Generation", attempt: int = 0) -> StepContext:
    return StepContext(saga_id="saga-1", execution_arn="arn:x", state=state, attempt=attempt)


def _plan(mode: str, times: int = 1, allowed: bool = True, state: str = "Generation") -> FaultPlan:
    return FaultPlan({state: Fault(mode=mode, times=times)}, allowed=allowed)


def test_transient_fails_the_first_attempts_then_passes() -> None:
    plan = _plan("transient", times=2)
    for attempt in (0, 1):
        with pytest.raises(AgentTransientError, match=f"attempt {attempt + 1} of 2"):
            plan.before_work(_ctx(attempt=attempt))
    plan.before_work(_ctx(attempt=2))
    plan.before_work(_ctx(attempt=3))


def test_transient_defaults_to_one_failing_attempt() -> None:
    plan = _plan("transient")
    with pytest.raises(AgentTransientError):
        plan.before_work(_ctx(attempt=0))
    plan.before_work(_ctx(attempt=1))


def test_transient_is_not_permanent() -> None:
    with pytest.raises(AgentTransientError) as caught:
        _plan("transient").before_work(_ctx())
    assert not isinstance(caught.value, AgentPermanentError)


@pytest.mark.parametrize("attempt", [0, 1, 5, 99])
def test_permanent_always_raises_a_permanent_error(attempt: int) -> None:
    with pytest.raises(AgentPermanentError, match="permanent fault at Generation"):
        _plan("permanent").before_work(_ctx(attempt=attempt))


@pytest.mark.parametrize("attempt", [0, 1, 5, 99])
def test_exhaust_always_raises_a_transient_error(attempt: int) -> None:
    with pytest.raises(AgentTransientError, match=f"attempt {attempt + 1}"):
        _plan("exhaust").before_work(_ctx(attempt=attempt))


def test_partial_does_not_fail_before_work() -> None:
    _plan("partial").before_work(_ctx())


@pytest.mark.parametrize(
    ("items", "written"), [([1, 2, 3, 4], [1, 2]), ([1, 2, 3], [1]), ([1], []), ([], [])]
)
def test_partial_writes_half_then_crashes(items: list[int], written: list[int]) -> None:
    plan = _plan("partial")
    to_write, crash = plan.partial(_ctx(), items)
    assert list(to_write) == written
    assert crash is True
    with pytest.raises(AgentPermanentError, match=f"after writing {len(written)} item"):
        plan.crash_after_partial_write(_ctx(), len(to_write))


@pytest.mark.parametrize("mode", ["transient", "permanent", "exhaust"])
def test_other_modes_write_everything(mode: str) -> None:
    assert _plan(mode).partial(_ctx(), [1, 2, 3, 4]) == ([1, 2, 3, 4], False)


def test_faults_apply_only_to_their_state() -> None:
    plan = _plan("permanent", state="Execution")
    plan.before_work(_ctx(state="Generation"))
    assert plan.partial(_ctx(state="Generation"), [1, 2]) == ([1, 2], False)
    assert plan.for_state("Generation") is None
    assert plan.for_state("Execution") == Fault(mode="permanent")


@pytest.mark.parametrize("mode", ["transient", "permanent", "exhaust", "partial"])
def test_nothing_is_injected_when_not_allowed(mode: str) -> None:
    plan = _plan(mode, times=5, allowed=False)
    assert plan.for_state("Generation") is None
    for attempt in range(3):
        plan.before_work(_ctx(attempt=attempt))
    assert plan.partial(_ctx(), [1, 2, 3, 4]) == ([1, 2, 3, 4], False)
