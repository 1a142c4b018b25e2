"""The peer: stepsaga's 6-step saga written as an AWS Lambda durable function.

What a 2026 user would write instead of a Step Functions saga: one durable function
(``aws-durable-execution-sdk-python``) whose steps are checkpointed ``context.step`` calls,
run locally on the SDK's own test runner (``DurableFunctionTestRunner``,
``aws-durable-execution-sdk-python-testing``) with moto in-process for its data. Install
with ``pip install -e '.[peer]'``.

Kept comparable with stepsaga on purpose:

- the same six steps, calling the same agents (``functions.agents``) on the same
  DynamoDB/S3 repositories (``DynamoSagaStore``, ``S3ArtifactStore``): every step does the
  same data work, ledger transactions and fence included;
- the same compensations (Requirements deletes scenarios, Generation marks tests INVALID,
  Execution deletes artifacts and marks runs CLEANED), fenced first like stepsaga's
  compensation handlers, run in reverse order for every compensable step up to the one
  that failed, the execution then ending ``SagaRolledBack``;
- the same retry policies, read from ``statemachines.catalogue`` (``max_attempts`` retries
  after the first attempt, ``interval * backoff ** n``, no jitter); errors stepsaga does not
  retry (``AgentPermanentError``, ``InvalidRequest``) are not retried here either; the
  runner skips the backoff waits (``skip_time``), as the embedded stack's clock does;
- the same fault injection (``faults`` in the input, ``functions.common.faults``).

What differs is the orchestration, which is the point of the comparison; see
``bench/versus.py`` for the list.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aws_durable_execution_sdk_python import DurableContext, StepContext, StepError, durable_execution
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from functions.agents import analysis, evolution, execution, generation, observation, requirements
from functions.common import store
from functions.common.errors import AgentPermanentError, InvalidRequest
from functions.common.faults import FaultPlan
from functions.common.names import ARTIFACTS_OF_SAGA
from functions.common.settings import Settings
from functions.common.step import Step
from functions.common.store import KEYS, DynamoSagaStore, Kind, S3ArtifactStore
from functions.common.targets import fetch
from statemachines.catalogue import TEST_GENERATION
from statemachines.saga import RetryPolicy

STEPS = [step.name for step in TEST_GENERATION.steps]
RETRY = {step.name: step.retry for step in TEST_GENERATION.steps}
COMPENSABLE = [step.name for step in TEST_GENERATION.steps if step.compensation]
# The compensation tasks' retrier in the compiled ASL (statemachines.saga): 3 retries, 1 s, x2.
COMPENSATION_RETRY = RetryPolicy(max_attempts=3, interval_seconds=1)
NOT_RETRIED = (AgentPermanentError, InvalidRequest)  # stepsaga's retriers: MaxAttempts 0
KINDS = ("scenarios", "tests", "runs", "reports")
ALLOWED_HOSTS = ("127.0.0.1", "::1")  # the demo site; nothing else is reachable from here


class SagaRolledBack(Exception):
    """The saga failed and every compensation ran (stepsaga's ``RolledBack`` state's error)."""


class InputRejected(Exception):
    """The request was invalid: Requirements refused it before writing (stepsaga's ``InputRejected``)."""


def retry_strategy(policy: RetryPolicy) -> Callable[[Exception, int], RetryDecision]:
    """stepsaga's retrier as the SDK's strategy: ``attempts_made`` counts the first attempt."""

    def decide(error: Exception, attempts_made: int) -> RetryDecision:
        if isinstance(error, NOT_RETRIED) or attempts_made > policy.max_attempts:
            return RetryDecision.no_retry()
        delay = policy.interval_seconds * policy.backoff_rate ** (attempts_made - 1)
        if policy.max_delay_seconds is not None:
            delay = min(delay, policy.max_delay_seconds)
        return RetryDecision.retry(Duration.from_seconds(delay))

    return decide


def _step(settings: Settings, saga: dict[str, Any], saga_id: str, state: str, attempt: int) -> Step:
    """The agents' ``Step``, built from the durable step's context instead of a task event."""
    event = {
        "saga": saga,
        # stepsaga's attempt is the state's retry count (0 first); the SDK's starts at 1.
        "context": {"saga_id": saga_id, "execution_arn": saga_id, "state": state, "attempt": attempt - 1},
    }
    step = Step(event)
    step.settings = settings
    step.faults = FaultPlan(step.input.faults, allowed=True)
    return step


def forward(
    settings: Settings, name: str, saga: dict[str, Any], saga_id: str
) -> Callable[[StepContext], Any]:
    def run(context: StepContext) -> dict[str, Any]:
        step = _step(settings, saga, saga_id, name, context.attempt)
        step.faults.before_work(step.ctx)
        store = DynamoSagaStore(settings)
        if name == "Execution":
            return execution.run(
                step,
                store,
                S3ArtifactStore(settings),
                lambda url: fetch(url, ALLOWED_HOSTS),
                heartbeat=lambda: None,  # the step's own attempt is its liveness here
            )
        agent = {
            "Requirements": requirements,
            "Generation": generation,
            "Observation": observation,
            "Analysis": analysis,
            "Evolution": evolution,
        }[name]
        return agent.run(step, store)

    return run


def backward(
    settings: Settings, undoes: str, saga: dict[str, Any], saga_id: str
) -> Callable[[StepContext], Any]:
    def run(context: StepContext) -> dict[str, Any]:
        step = _step(settings, saga, saga_id, f"Compensate{undoes}", context.attempt)
        store = DynamoSagaStore(settings)
        step.fenced = store.begin_compensation(saga_id, undoes)  # fence first, as stepsaga's handlers do
        step.faults.before_work(step.ctx)
        if undoes == "Execution":
            return execution.undo(step, store, S3ArtifactStore(settings))
        return {"Requirements": requirements, "Generation": generation}[undoes].undo(step, store)

    return run


def saga_function(settings: Settings) -> Callable[[Any, Any], Any]:
    """The durable function: input ``{"saga_id", "request", "faults"?}``."""

    @durable_execution
    def saga(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        saga_id = str(event["saga_id"])
        document: dict[str, Any] = {"request": event["request"], "faults": event.get("faults") or {}}
        results: dict[str, Any] = {}
        for index, name in enumerate(STEPS):
            config = StepConfig(retry_strategy=retry_strategy(RETRY[name]))
            try:
                results[name] = context.step(
                    forward(settings, name, {**document, "results": dict(results)}, saga_id), name, config
                )
            except StepError as failure:
                if index == 0 and failure.error_type.endswith(InvalidRequest.__name__):
                    raise InputRejected(failure.message) from None  # nothing was written: no rollback
                for undoes in reversed([s for s in COMPENSABLE if STEPS.index(s) <= index]):
                    context.step(
                        backward(settings, undoes, document, saga_id),
                        f"Compensate{undoes}",
                        StepConfig(retry_strategy=retry_strategy(COMPENSATION_RETRY)),
                    )
                raise SagaRolledBack(f"{name} failed: {failure.message}") from None
        return {"saga_id": saga_id, "results": results}

    return saga


def _keys(partition: str, sort: str | None = None) -> dict[str, Any]:
    names = [partition] if sort is None else [partition, sort]
    return {
        "KeySchema": [
            {"AttributeName": name, "KeyType": kind}
            for name, kind in zip(names, ("HASH", "RANGE"), strict=False)
        ],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in names],
    }


def _ledger_schema() -> dict[str, Any]:
    """The ledger as ``functions.common.store`` keys it: by entry (``<step>#<saga_id>``) with a
    (saga_id, step) index where the store defines ``LEDGER_KEY``, else by (saga_id, step)."""
    entry_key = getattr(store, "LEDGER_KEY", None)
    if entry_key is None:
        return _keys("saga_id", "step")
    schema = _keys(entry_key)
    by_saga = _keys("saga_id", "step")
    schema["AttributeDefinitions"] += by_saga["AttributeDefinitions"]
    schema["GlobalSecondaryIndexes"] = [
        {
            "IndexName": store.LEDGER_BY_SAGA,
            "KeySchema": by_saga["KeySchema"],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    return schema


@dataclass(frozen=True)
class Outcome:
    saga_id: str
    status: str  # SUCCEEDED or FAILED
    error: str | None  # the error's type, e.g. "SagaRolledBack"
    result: dict[str, Any] | None


class PeerSaga:
    """``with PeerSaga() as peer: peer.run(request)``: its own tables and bucket in moto.

    ``mock=True`` starts moto in-process (``mock_aws``); pass False when moto is already
    running in this process (``bench.versus`` shares the embedded stack's), as starting a
    second mock would swap moto's settings under the running stack.
    """

    def __init__(self, *, mock: bool = True) -> None:
        self._own_mock = mock
        self._mock: Any = None
        suffix = uuid.uuid4().hex[:8]
        self.settings = Settings(
            **{f"{kind}_table": f"peer-{kind}-{suffix}" for kind in (*KINDS, "ledger")},
            artifacts_bucket=f"peer-artifacts-{suffix}",
            allow_fault_injection=True,
            allowed_private_hosts=ALLOWED_HOSTS,
        )
        self.runner: DurableFunctionTestRunner | None = None
        self._saga_ids: dict[str, str] = {}  # execution ARN -> saga id

    def __enter__(self) -> PeerSaga:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }.items():
            os.environ.setdefault(key, value)
        if self._own_mock:
            from moto import mock_aws

            if os.environ.get("AWS_ENDPOINT_URL"):
                raise RuntimeError("AWS_ENDPOINT_URL is set: the peer's data must stay in moto in-process")
            self._mock = mock_aws()
            self._mock.start()
        # The SDK logs every failed attempt with its traceback; the outcome says enough.
        logging.getLogger("aws_durable_execution_sdk_python").setLevel(logging.CRITICAL)
        logging.getLogger("aws_durable_execution_sdk_python_testing").setLevel(logging.CRITICAL)
        self._create_resources()
        self.runner = DurableFunctionTestRunner(handler=saga_function(self.settings), skip_time=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def _create_resources(self) -> None:
        import boto3

        ddb = boto3.client("dynamodb", region_name=os.environ["AWS_REGION"])
        for kind in KINDS:
            ddb.create_table(
                TableName=getattr(self.settings, f"{kind}_table"),
                BillingMode="PAY_PER_REQUEST",
                **_keys("saga_id", KEYS[kind]),
            )
        ddb.create_table(
            TableName=self.settings.ledger_table, BillingMode="PAY_PER_REQUEST", **_ledger_schema()
        )
        boto3.client("s3", region_name=os.environ["AWS_REGION"]).create_bucket(
            Bucket=self.settings.artifacts_bucket
        )

    # -- sagas -----------------------------------------------------------------------------
    def start(self, request: dict[str, Any], faults: dict[str, Any] | None = None, saga_id: str = "") -> str:
        """Start a saga and return its execution ARN (the saga id is the execution's name)."""
        assert self.runner is not None, "use PeerSaga as a context manager"
        saga_id = saga_id or f"peer-{uuid.uuid4().hex[:12]}"
        document = {"saga_id": saga_id, "request": request, **({"faults": faults} if faults else {})}
        arn = self.runner.run_async(input=json.dumps(document), execution_name=saga_id, execution_timeout=300)
        self._saga_ids[arn] = saga_id
        return arn

    def wait(self, execution_arn: str, timeout: int = 300) -> Outcome:
        assert self.runner is not None, "use PeerSaga as a context manager"
        result = self.runner.wait_for_result(execution_arn, timeout=timeout)
        return Outcome(
            saga_id=self._saga_ids.pop(execution_arn),
            status="SUCCEEDED" if result.status is InvocationStatus.SUCCEEDED else "FAILED",
            error=(result.error.type or "").rsplit(".", 1)[-1] if result.error else None,
            result=json.loads(result.result) if result.result else None,
        )

    def run(
        self, request: dict[str, Any], faults: dict[str, Any] | None = None, saga_id: str = ""
    ) -> Outcome:
        return self.wait(self.start(request, faults, saga_id))

    # -- the saga's data -------------------------------------------------------------------
    def items(self, kind: str, saga_id: str) -> list[dict[str, Any]]:
        """What the saga wrote, read by the store it wrote through (every page)."""
        return DynamoSagaStore(self.settings).items(cast("Kind", kind), saga_id)

    def artifact_keys(self, saga_id: str) -> list[str]:
        return S3ArtifactStore(self.settings).keys(ARTIFACTS_OF_SAGA.format(saga_id))
