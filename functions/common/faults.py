"""Fault injection for tests and demos, honoured only where the deployment allows it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

from functions.common.errors import AgentPermanentError, AgentTransientError
from functions.common.models import Fault, StepContext

T = TypeVar("T")


class FaultPlan:
    """The faults a saga asked for, resolved for one state and attempt."""

    def __init__(self, faults: dict[str, Fault], allowed: bool) -> None:
        self._faults = faults if allowed else {}

    def for_state(self, state: str) -> Fault | None:
        return self._faults.get(state)

    def before_work(self, ctx: StepContext, item: str | None = None) -> None:
        """Raise the fault this attempt should see before it does any work."""
        fault = self.for_state(ctx.state)
        if fault is None:
            return
        if fault.items is not None and not (item and any(item.startswith(p) for p in fault.items)):
            return
        if fault.mode == "transient" and ctx.attempt < fault.times:
            raise AgentTransientError(
                f"injected transient fault at {ctx.state} "
                f"(attempt {ctx.attempt + 1} of {fault.times} failing)"
            )
        if fault.mode == "exhaust":
            raise AgentTransientError(
                f"injected fault at {ctx.state}: still unavailable (attempt {ctx.attempt + 1})"
            )
        if fault.mode == "permanent":
            raise AgentPermanentError(f"injected permanent fault at {ctx.state}")
        if fault.mode == "hang":
            time.sleep(fault.seconds)

    def partial(self, ctx: StepContext, items: Sequence[T]) -> tuple[Sequence[T], bool]:
        """The items to write this attempt, and whether to crash after writing them."""
        fault = self.for_state(ctx.state)
        if fault is not None and fault.mode == "partial":
            return items[: len(items) // 2], True
        return items, False

    def crash_after_partial_write(self, ctx: StepContext, written: int) -> None:
        raise AgentPermanentError(f"injected crash at {ctx.state} after writing {written} item(s)")
