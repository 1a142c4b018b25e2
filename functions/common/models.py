"""The saga's documents: what a client sends, what each task receives, what agents create."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from functions.common.names import FaultMode
from functions.common.stories import yielded_tests

MAX_STORIES = 50
MAX_STORY_CHARS = 500
# The most tests one request may yield: what every machine can run and roll back, with margin.
# The binding limit is the parallel machine's inline Map: Step Functions ends an execution at
# 25,000 history events, uncaught (no compensation). Measured on the embedded stack, its saga
# takes 7 events per test and 52 more for a rollback from Evolution, so (25,000 - 52) / 7 =
# 3,564 tests fit with no retry at all; 3,000 leaves 3,948 events for item retries and
# failures (3 to 5 events each), i.e. one in three items may be retried once. The others are
# far above it: a state's payload carries ~21 bytes per test id (262,144 bytes: ~11,900
# tests), and no ledger item grows with the tests (functions.common.store). docs/RELIABILITY.md.
MAX_TESTS = 3_000
# Step Functions' limit on an execution's name, which is the saga id.
MAX_SAGA_ID_CHARS = 80


def encodable(text: str) -> str:
    """Refuse a lone surrogate (``"\\ud800"`` is valid JSON): no store can encode it as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"holds a lone surrogate at character {error.start}: not valid Unicode") from None
    return text


# Text a saga stores or sends on: any string, but one that encodes as UTF-8.
Text = Annotated[str, AfterValidator(encodable)]
# A state of a state machine, as faults name it: ``Execution``, ``CompensateGeneration``.
StateName = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]{0,79}$")]


class SagaRequest(BaseModel):
    """What a client asks for: generate and run tests for one project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    target_url: HttpUrl
    user_stories: list[Text] = Field(min_length=1, max_length=MAX_STORIES)
    # Parallel sagas: the share of test executions allowed to fail (overrides the declared policy).
    tolerated_failure_percentage: float | None = Field(default=None, ge=0, le=100)

    @field_validator("target_url")
    @classmethod
    def _http_only(cls, url: HttpUrl) -> HttpUrl:
        if url.scheme not in ("http", "https"):
            raise ValueError("target_url must be an http(s) URL")
        return url

    @field_validator("user_stories")
    @classmethod
    def _stories_have_text(cls, stories: list[str]) -> list[str]:
        for index, story in enumerate(stories):
            if not story.strip():
                raise ValueError(f"user story {index} is empty")
            if len(story) > MAX_STORY_CHARS:
                raise ValueError(f"user story {index} is longer than {MAX_STORY_CHARS} characters")
        yielded = yielded_tests(stories)
        if yielded > MAX_TESTS:
            raise ValueError(
                f"the stories yield {yielded} tests (one per story and one per quoted text); "
                f"at most {MAX_TESTS} (MAX_TESTS) fit a saga that can still roll back"
            )
        return stories


class Fault(BaseModel):
    """A fault to inject at one state (tests and demos; honoured only where allowed).

    ``transient``: fail the first ``times`` attempts with a retryable error.
    ``permanent``: fail every attempt with an error that is not retried.
    ``exhaust``: fail every attempt with a retryable error, so retries run out.
    ``partial``: write half of the step's items, then fail permanently.
    ``hang``: stall ``seconds`` before working (no heartbeats), then carry on: the task
    times out and this attempt lives on as a zombie that must not write after rollback.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: FaultMode
    # For a step that runs per item: only items whose id starts with one of these prefixes.
    items: list[Text] | None = Field(default=None, max_length=1000)
    times: int = Field(default=1, ge=1, le=100)
    seconds: float = Field(default=1.0, gt=0, le=900)


class Project(BaseModel):
    """One project of a parent saga (``multi-project``): the request its child saga runs.

    Faults are not taken: the parent starts each child with the project's request alone
    (``statemachines/parent.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: SagaRequest


# The most projects one parent saga may run. The binding limit is the parent's state, 262,144
# bytes: once SummariseProjects has run it holds the projects (at most the API's 64 KB body)
# and each request once more, as a child to compensate or inside a failed child's cause (its
# DescribeExecution, JSON in a string: at most twice the bytes), plus per child 768 bytes of
# that description (measured on the embedded stack). 64 KB + 2 x 64 KB + 50 x 0.8 KB = 232 KB
# fits; 100 projects would not.
MAX_PROJECTS = 50


# The faults a saga runs under, by state: the saga's input and each Map item carry them.
Faults = Annotated[dict[StateName, Fault], Field(max_length=20)]


class SagaInput(BaseModel):
    """The execution input: the request plus optional fault injection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: SagaRequest
    faults: Faults = Field(default_factory=dict)


class ItemInput(BaseModel):
    """What a Map item receives of its saga: the faults it runs under. Not the request: the
    saga's first step validated it, and n items each carrying it made the history (and the
    logs at level ALL) grow by n times the request, ~28 KB at 3,000 tests."""

    model_config = ConfigDict(frozen=True)

    faults: Faults = Field(default_factory=dict)


class StepContext(BaseModel):
    """Where a task is in its execution (from the ``$$`` context object)."""

    model_config = ConfigDict(frozen=True)

    saga_id: str = Field(min_length=1, max_length=MAX_SAGA_ID_CHARS)
    execution_arn: str = Field(min_length=1)
    state: StateName
    attempt: int = 0
    task_token: str | None = None
    heartbeat_seconds: int | None = None


class StepEvent(BaseModel):
    """What every task receives (see ``statemachines.saga._payload``)."""

    saga: dict[str, Any]
    context: StepContext
    item: Any = None  # the Map item, for a step that runs once per item


class Scenario(BaseModel):
    scenario_id: str
    title: str
    story: str
    path: str
    expectations: list[str]


TestKind = Literal["status", "text"]


class TestCase(BaseModel):
    __test__ = False  # not a pytest class

    test_id: str
    scenario_id: str
    name: str
    kind: TestKind
    url: str
    expected_status: int = 200
    expected_text: str | None = None
    code: str
    status: Literal["GENERATED", "INVALID"] = "GENERATED"


class RunResult(BaseModel):
    test_id: str
    outcome: Literal["PASSED", "FAILED", "ERROR"]
    status_code: int | None = None
    duration_ms: int
    detail: str
    artifact_key: str | None = None
    page_words: list[str] = Field(default_factory=list)


class Observation(BaseModel):
    total: int
    passed: int
    failed: int
    errored: int
    mean_duration_ms: float
    outcomes: dict[str, str]


class Failure(BaseModel):
    test_id: str
    name: str
    reason: str


class Analysis(BaseModel):
    total: int
    pass_rate: float
    failures: list[Failure]
    # Tests whose execution itself failed (a parallel saga that tolerated them): no run exists.
    execution_failures: list[str] = Field(default_factory=list)


class Proposal(BaseModel):
    test_id: str
    change: Literal["replace_expected_text", "expect_status", "retire_test", "investigate"]
    rationale: str
    suggestion: str | None = None
