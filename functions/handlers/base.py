"""What every forward and compensation handler does around its agent call."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from functions.common.errors import InvalidRequest
from functions.common.names import METRIC_COMPENSATION_EXECUTED, METRIC_STEP_DURATION
from functions.common.observability import logger, metric
from functions.common.step import Step
from functions.common.store import DynamoSagaStore, SagaStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

Forward = Callable[[Step, SagaStore], dict[str, Any]]


@lru_cache(maxsize=8)
def _persistence(table: str) -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table)


def once_per_state(step: Step, context: Any, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` once per (saga, state): a duplicate delivery gets the first result back.

    Failed attempts leave no record, so a retry after a failure runs the work again.
    """
    # Imported here, not with the module: Powertools' idempotency utility imports boto3, and
    # only the Execution handler (at least once delivery) uses it.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    # One config per call: it holds the Lambda context, and handlers may run concurrently.
    config = IdempotencyConfig(expires_after_seconds=24 * 3600)
    if context is not None:
        config.register_lambda_context(context)

    @idempotent_function(
        data_keyword_argument="key",
        persistence_store=_persistence(step.settings.idempotency_table),
        config=config,
        # Records keyed <state>#<hash>: IAM holds each function to its own (infra/stack.py).
        key_prefix=step.ctx.state,
    )
    def _once(key: dict[str, str]) -> dict[str, Any]:
        return work()

    # The attempt is part of the key: a retry after a timeout is new work (the timed-out
    # attempt may still be running), while a duplicate delivery of one attempt is not.
    key = {"saga_id": step.saga_id, "state": step.ctx.state, "attempt": str(step.ctx.attempt)}
    if step.item is not None:
        key["item"] = step.item
    return _once(key=key)


def forward(
    event: dict[str, Any], context: Any, agent: Forward, *, first: bool = False, at_least_once: bool = False
) -> dict[str, Any]:
    """A forward step: typed input, injected faults, the agent's work.

    Every agent's writes are idempotent by construction (deterministic ids, set-valued ledger
    entries, the fence), so a repeated task changes nothing. Where delivery is at least once
    (an asynchronous invoke, which Lambda may deliver twice, concurrently), an idempotency
    record also makes the duplicate return the first result without doing the work again;
    Standard workflows invoke synchronous tasks exactly once per attempt, so they skip the
    record's two extra writes.
    """
    step = Step(event, strict=first)
    step.faults.before_work(step.ctx, item=step.item)
    started = time.perf_counter()
    work = lambda: agent(step, DynamoSagaStore(step.settings))  # noqa: E731
    result = once_per_state(step, context, work) if at_least_once else work()
    elapsed_ms = (time.perf_counter() - started) * 1000
    metric(METRIC_STEP_DURATION, elapsed_ms, MetricUnit.Milliseconds, step=step.ctx.state)
    logger.info("step done", extra={"result": result})
    return result


def backward(event: dict[str, Any], agent: Forward, *, undoes: str) -> dict[str, Any]:
    """A compensation of the step ``undoes``: idempotent by the ledger, so it needs no
    idempotency record."""
    step = Step(event)
    if step.ctx.state != f"Compensate{undoes}":
        # Called under another state's name it would fence (and answer for) that other step.
        raise InvalidRequest(f"context.state: {step.ctx.state!r} is not Compensate{undoes}")
    store = DynamoSagaStore(step.settings)
    # Fence first: even a compensation that fails at once has closed its step to late writes.
    step.fenced = store.begin_compensation(step.saga_id, undoes)
    step.faults.before_work(step.ctx)
    result = agent(step, store)
    metric(METRIC_COMPENSATION_EXECUTED, step=step.ctx.state)
    logger.info("compensation done", extra={"result": result})
    return result
