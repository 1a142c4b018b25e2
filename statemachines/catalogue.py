"""The six-agent test-generation sagas, declared once.

Policies from the platform's spec (docs/ARCHITECTURE.md, "Step policies"). Adding a step is one entry here
plus its handler module in ``functions/handlers``. The same agents make three sagas:
the sequential saga, one whose tests execute concurrently, and one that waits for a
person's approval before it executes anything.
"""

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from functions.common import names
from statemachines.parent import ParentSaga, compile_parent, compile_rollback, rollback_name
from statemachines.saga import EachItem, RetryPolicy, Saga, Step, compile_saga

MINUTE = 60
HOUR = 60 * MINUTE

REQUIREMENTS = Step(
    name="Requirements",
    description="Turn the request's user stories into scenarios",
    handler="functions.handlers.requirements.handler",
    compensation="functions.handlers.requirements.compensate",
    timeout_seconds=5 * MINUTE,
    retry=RetryPolicy(max_attempts=3, interval_seconds=1),
    owns=("scenarios",),
)
GENERATION = Step(
    name="Generation",
    description="Turn scenarios into Playwright-style test cases",
    handler="functions.handlers.generation.handler",
    compensation="functions.handlers.generation.compensate",
    timeout_seconds=10 * MINUTE,
    retry=RetryPolicy(max_attempts=3, interval_seconds=2),
    owns=("tests",),
    reads=("scenarios",),
)
EXECUTION = Step(
    name="Execution",
    description="Run every test's checks against the target (callback with heartbeats)",
    handler="functions.handlers.execution.handler",
    compensation="functions.handlers.execution.compensate",
    timeout_seconds=30 * MINUTE,
    heartbeat_seconds=2 * MINUTE,
    retry=RetryPolicy(max_attempts=2, interval_seconds=5),
    owns=("runs", "artifacts"),
    reads=("tests", "runs", "sagas"),  # runs: a retry resumes after what is recorded
)
OBSERVATION = Step(
    name="Observation",
    description="Collect the results of every run",
    handler="functions.handlers.observation.handler",
    timeout_seconds=5 * MINUTE,
    retry=RetryPolicy(max_attempts=3, interval_seconds=1),
    owns=("reports",),
    reads=("runs",),
)
ANALYSIS = Step(
    name="Analysis",
    description="Compute the pass rate and the failures",
    handler="functions.handlers.analysis.handler",
    timeout_seconds=5 * MINUTE,
    retry=RetryPolicy(max_attempts=3, interval_seconds=1),
    owns=("reports",),
    reads=("tests", "runs", "reports"),  # reports: Observation's
)
EVOLUTION = Step(
    name="Evolution",
    description="Propose changes to the failing tests",
    handler="functions.handlers.evolution.handler",
    timeout_seconds=5 * MINUTE,
    retry=RetryPolicy(max_attempts=3, interval_seconds=1),
    owns=("reports",),
    reads=("tests", "runs"),
)

TEST_GENERATION = Saga(
    name=names.TEST_GENERATION,
    comment="stepsaga: Requirements -> Generation -> Execution -> Observation -> Analysis -> Evolution, "
    "compensated in reverse order on failure",
    steps=(REQUIREMENTS, GENERATION, EXECUTION, OBSERVATION, ANALYSIS, EVOLUTION),
)

PARALLEL_TEST_GENERATION = Saga(
    name=names.PARALLEL_TEST_GENERATION,
    comment="stepsaga: the test-generation saga with every test executed concurrently",
    steps=(
        REQUIREMENTS,
        GENERATION,
        Step(
            name="Execution",
            description="Run every test concurrently; each run is compensable on its own",
            handler="functions.handlers.execute_test.handler",
            compensation="functions.handlers.execution.compensate",
            timeout_seconds=5 * MINUTE,
            retry=RetryPolicy(max_attempts=2, interval_seconds=5),
            owns=("runs", "artifacts"),
            reads=("tests",),
            each=EachItem(
                items_path="$.results.Generation.test_ids",
                faults_path="$.results.Generation.faults",
                item_state="ExecuteTest",
                max_concurrency=10,
            ),
        ),
        OBSERVATION,
        ANALYSIS,
        EVOLUTION,
    ),
)

REVIEWED_TEST_GENERATION = Saga(
    name=names.REVIEWED_TEST_GENERATION,
    comment="stepsaga: the test-generation saga that waits for approval before executing tests",
    steps=(
        REQUIREMENTS,
        GENERATION,
        Step(
            name="AwaitApproval",
            description="Wait for approve, cancel or the gate's timeout (a day)",
            handler="functions.handlers.approval.handler",
            timeout_seconds=24 * HOUR,
            retry=RetryPolicy(max_attempts=0, interval_seconds=1),
            owns=("sagas",),
            gate=True,
        ),
        EXECUTION,
        OBSERVATION,
        ANALYSIS,
        EVOLUTION,
    ),
)

MULTI_PROJECT = ParentSaga(
    name=names.MULTI_PROJECT,
    comment="stepsaga: one test-generation saga per project; if one fails, the others are compensated",
    child=TEST_GENERATION,
    max_concurrency=2,
)

SAGAS = {s.name: s for s in (TEST_GENERATION, PARALLEL_TEST_GENERATION, REVIEWED_TEST_GENERATION)}
PARENTS = {MULTI_PROJECT.name: MULTI_PROJECT}
# The sagas with a rollback machine: every one with something to compensate (a parent's child too).
ROLLBACKS = {s.name: s for s in (*SAGAS.values(), *(p.child for p in PARENTS.values())) if s.compensable}

ASL_DIR = Path(__file__).parent / "asl"


def asl_path(saga: Saga | ParentSaga | str) -> Path:
    """Where a machine's generated ASL is kept: ``statemachines/asl/<name>.asl.json``."""
    name = saga if isinstance(saga, str) else saga.name
    return ASL_DIR / f"{name}.asl.json"


def machines() -> dict[str, Callable[[], dict[str, Any]]]:
    """Every state machine the project deploys: name -> its compiled ASL."""
    found: dict[str, Callable[[], dict[str, Any]]] = {}
    for saga in SAGAS.values():
        found[saga.name] = partial(compile_saga, saga)
    # Each saga's compensation chain alone: what a resume (POST /sagas/{id}/resume) runs, and
    # what a parent runs to undo a child that succeeded.
    for saga in ROLLBACKS.values():
        found[rollback_name(saga)] = partial(compile_rollback, saga)
    for parent in PARENTS.values():
        found[parent.name] = partial(compile_parent, parent)
    return found
