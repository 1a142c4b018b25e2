"""Parsing a task's event into typed documents, with errors a client can act on."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from functions.common.errors import InvalidRequest
from functions.common.faults import FaultPlan
from functions.common.models import ItemInput, SagaInput, StepContext, StepEvent
from functions.common.settings import Settings


def describe(error: ValidationError) -> str:
    """Pydantic's errors as one line: ``request.target_url: Input should be a valid URL; ...``."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(p) for p in problem["loc"]) or "input"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def parse_event(event: dict[str, Any]) -> StepEvent:
    try:
        return StepEvent.model_validate(event)
    except ValidationError as error:
        raise InvalidRequest(f"malformed task event: {describe(error)}") from error


@lru_cache(maxsize=32)
def _validated(document: str) -> SagaInput:
    return SagaInput.model_validate(json.loads(document))


def parse_input(saga: dict[str, Any], *, strict: bool = False) -> SagaInput:
    """The saga's request and faults; ``strict`` also rejects unknown top-level fields.

    A request's validation reads every story (O(n)); the steps of one saga bring the same
    document, so one seen before is not validated again (the model is frozen).
    """
    if strict:  # Step Functions adds this field to a child execution's input: it links the two
        document = {k: v for k, v in saga.items() if k != "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}
    else:
        document = {k: saga[k] for k in ("request", "faults") if k in saga}
    try:
        try:
            text = json.dumps(document)
        except (TypeError, ValueError):  # not JSON (no task event is): validated as it is
            return SagaInput.model_validate(document)
        return _validated(text)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from error


def parse_item_input(saga: dict[str, Any]) -> ItemInput:
    """A Map item's faults. Only ``faults`` is read: an item of an execution started on an
    earlier definition brings the whole saga document."""
    try:
        return ItemInput.model_validate({"faults": saga.get("faults") or {}})
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from error


class Step:
    """Everything a handler needs about the task it is running."""

    def __init__(self, event: dict[str, Any], *, strict: bool = False) -> None:
        parsed = parse_event(event)
        self.ctx: StepContext = parsed.context
        self.saga: dict[str, Any] = parsed.saga
        self.item: str | None = None if parsed.item is None else str(parsed.item)
        # A Map item gets its faults alone (``ItemInput``); any other task the whole document.
        self._input = None if parsed.item is not None else parse_input(parsed.saga, strict=strict)
        faults = self._input.faults if self._input else parse_item_input(parsed.saga).faults
        self.settings = Settings.from_env()
        if strict and faults and not self.settings.allow_fault_injection:
            raise InvalidRequest("faults: fault injection is disabled in this deployment")
        self.faults = FaultPlan(faults, self.settings.allow_fault_injection)
        # A compensation's ledger entry, once its handler has fenced the step.
        self.fenced: dict[str, Any] | None = None

    @property
    def input(self) -> SagaInput:
        """The saga's request and faults (not a Map item's: it gets its faults alone)."""
        if self._input is None:  # a handler's bug, not the client's input
            raise RuntimeError(f"{self.ctx.state} is a Map item: its task has no request")
        return self._input

    @property
    def saga_id(self) -> str:
        return self.ctx.saga_id

    def result_of(self, step: str) -> dict[str, Any]:
        return dict((self.saga.get("results") or {}).get(step) or {})
