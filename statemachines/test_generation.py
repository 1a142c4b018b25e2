"""The six-agent test-generation saga, declared once.

Policies from the platform's spec (DESIGN.md section 2). Adding a step is one entry here
plus its handler module in ``functions/handlers``.
"""

from statemachines.saga import RetryPolicy, Saga, Step

MINUTE = 60

TEST_GENERATION = Saga(
    name="test-generation",
    comment="stepsaga: Requirements -> Generation -> Execution -> Observation -> Analysis -> Evolution, "
    "compensated in reverse order on failure",
    steps=(
        Step(
            name="Requirements",
            description="Turn the request's user stories into scenarios",
            handler="functions.handlers.requirements.handler",
            compensation="functions.handlers.requirements.compensate",
            timeout_seconds=5 * MINUTE,
            retry=RetryPolicy(max_attempts=3, interval_seconds=1),
            owns=("scenarios",),
        ),
        Step(
            name="Generation",
            description="Turn scenarios into Playwright-style test cases",
            handler="functions.handlers.generation.handler",
            compensation="functions.handlers.generation.compensate",
            timeout_seconds=10 * MINUTE,
            retry=RetryPolicy(max_attempts=3, interval_seconds=2),
            owns=("tests",),
            reads=("scenarios",),
        ),
        Step(
            name="Execution",
            description="Run every test's checks against the target (callback with heartbeats)",
            handler="functions.handlers.execution.handler",
            compensation="functions.handlers.execution.compensate",
            timeout_seconds=30 * MINUTE,
            heartbeat_seconds=2 * MINUTE,
            retry=RetryPolicy(max_attempts=2, interval_seconds=5),
            owns=("runs", "artifacts"),
            reads=("tests",),
        ),
        Step(
            name="Observation",
            description="Collect the results of every run",
            handler="functions.handlers.observation.handler",
            timeout_seconds=5 * MINUTE,
            retry=RetryPolicy(max_attempts=3, interval_seconds=1),
            owns=("reports",),
            reads=("runs",),
        ),
        Step(
            name="Analysis",
            description="Compute the pass rate and the failures",
            handler="functions.handlers.analysis.handler",
            timeout_seconds=5 * MINUTE,
            retry=RetryPolicy(max_attempts=3, interval_seconds=1),
            owns=("reports",),
            reads=("tests",),
        ),
        Step(
            name="Evolution",
            description="Propose changes to the failing tests",
            handler="functions.handlers.evolution.handler",
            timeout_seconds=5 * MINUTE,
            retry=RetryPolicy(max_attempts=3, interval_seconds=1),
            owns=("reports",),
            reads=("tests", "runs"),
        ),
    ),
)

SAGAS = {TEST_GENERATION.name: TEST_GENERATION}
