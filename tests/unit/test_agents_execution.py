"""functions/agents/execution.py: judging a target's response against a test."""

from __future__ import annotations

import itertools

import pytest

from functions.agents.execution import artifact_key, check, evaluate, visible_texts
from functions.common.models import TestCase
from functions.common.targets import HttpResponse, TargetRefused

pytestmark = pytest.mark.unit

PAGE = "<html><head><title>Shop</title></head><body><h1>Plans</h1><p>Free tier</p></body></html>"


def _test(kind: str = "text", expected_text: str | None = "Plans", expected_status: int = 200) -> TestCase:
    return TestCase(
        test_id="t-00-abcdef12-1",
        scenario_id="sc-00-abcdef12",
        name="n",
        kind=kind,
        url="https://example.com/pricing",
        expected_status=expected_status,
        expected_text=expected_text,
        code="",
    )


def test_matching_status_and_text_pass() -> None:
    result = evaluate(_test(), HttpResponse(200, PAGE, 42))
    assert result.outcome == "PASSED"
    assert result.detail == "ok"
    assert result.status_code == 200
    assert result.duration_ms == 42
    assert result.page_words == []
    assert result.test_id == "t-00-abcdef12-1"


def test_status_test_ignores_the_text() -> None:
    assert evaluate(_test(kind="status", expected_text=None), HttpResponse(200, "", 1)).outcome == "PASSED"


def test_status_mismatch_fails_with_page_words() -> None:
    result = evaluate(
        _test(kind="status", expected_text=None), HttpResponse(503, "<p>Down for maintenance</p>", 7)
    )
    assert result.outcome == "FAILED"
    assert result.detail == "expected HTTP 200, got 503"
    assert result.status_code == 503
    assert result.page_words == ["Down for maintenance"]


def test_status_is_checked_before_text() -> None:
    result = evaluate(_test(), HttpResponse(404, PAGE, 1))
    assert result.outcome == "FAILED"
    assert result.detail.startswith("expected HTTP 200")


def test_missing_text_fails_and_lists_what_the_page_shows() -> None:
    result = evaluate(_test(expected_text="Enterprise"), HttpResponse(200, PAGE, 3))
    assert result.outcome == "FAILED"
    assert result.detail == "text 'Enterprise' not found on the page"
    assert result.page_words == ["Shop", "Plans", "Free tier"]


def test_text_in_a_script_does_not_count_as_visible() -> None:
    page = "<p>Welcome</p><script>var label = 'Plans';</script>"
    assert evaluate(_test(), HttpResponse(200, page, 1)).outcome == "FAILED"


def test_text_split_by_inline_tags_is_found() -> None:
    assert evaluate(
        _test(expected_text="Free tier"), HttpResponse(200, "<p>Free <b>tier</b></p>", 1)
    ).outcome == ("PASSED")


def test_visible_texts_strips_tags_scripts_and_styles() -> None:
    body = (
        "<html><head><style type='text/css'>h1 { color: red }</style>"
        "<SCRIPT src='x.js'>alert('Plans')\n</SCRIPT></head>"
        "<body><h1 class='big'>Hello</h1><p>Fish &amp; chips</p>\n<p>  spaced \n  out  </p></body></html>"
    )
    texts = visible_texts(body)
    assert texts == ["Hello", "Fish & chips", "spaced out"]
    assert not any("color" in t or "alert" in t for t in texts)


def test_visible_texts_deduplicates_and_limits() -> None:
    body = "".join(f"<li>item {i % 10}</li>" for i in range(40))
    assert visible_texts(body) == [f"item {i}" for i in range(10)]
    assert len(visible_texts("".join(f"<li>{i}</li>" for i in range(100)), limit=5)) == 5


def test_visible_texts_drops_overlong_fragments() -> None:
    assert visible_texts("<p>" + "a" * 121 + "</p><p>short</p>") == ["short"]


def test_visible_text_named_like_a_tag_is_kept() -> None:
    assert visible_texts("<button>Style</button><p>Script</p>") == ["Style", "Script"]


def test_expected_text_inside_a_long_paragraph_is_found() -> None:
    page = "<p>" + "Our Plans start at nothing and grow with you. " * 4 + "</p>"
    assert evaluate(_test(), HttpResponse(200, page, 1)).outcome == "PASSED"


def test_expected_text_far_down_the_page_is_found() -> None:
    page = "".join(f"<li>item {i}</li>" for i in range(60)) + "<p>Plans</p>"
    assert evaluate(_test(), HttpResponse(200, page, 1)).outcome == "PASSED"


def test_check_fetches_the_test_url() -> None:
    seen: list[str] = []

    def fetch(url: str) -> HttpResponse:
        seen.append(url)
        return HttpResponse(200, PAGE, 5)

    assert check(_test(), fetch).outcome == "PASSED"
    assert seen == ["https://example.com/pricing"]


@pytest.mark.parametrize(
    "error", [ConnectionRefusedError("refused"), TimeoutError("timed out"), OSError("tls")]
)
def test_check_turns_network_errors_into_an_error_outcome(error: OSError) -> None:
    def fetch(url: str) -> HttpResponse:
        raise error

    result = check(_test(), fetch)
    assert result.outcome == "ERROR"
    assert result.detail == f"unreachable: {error}"
    assert result.status_code is None
    assert result.duration_ms == 0


def test_check_lets_a_refused_target_fail_the_step() -> None:
    def fetch(url: str) -> HttpResponse:
        raise TargetRefused("example.com resolves to a private address")

    with pytest.raises(TargetRefused):
        check(_test(), fetch)


def test_check_does_not_swallow_programming_errors() -> None:
    def fetch(url: str) -> HttpResponse:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        check(_test(), fetch)


def test_artifact_key() -> None:
    assert artifact_key("saga-1", "t-00-abcdef12-1") == "runs/saga-1/t-00-abcdef12-1.json"


class _MemoryStore:
    """An in-memory SagaStore: enough of it for Execution's run()."""

    def __init__(self, tests: list[TestCase]) -> None:
        self.data: dict[str, list[dict]] = {"tests": [t.model_dump() for t in tests], "runs": []}
        self.artifact_intents: list[str] = []

    def items(self, kind: str, saga_id: str) -> list[dict]:
        return list(self.data.get(kind, []))

    def record(self, saga_id: str, step: str, kind: str, items: list[dict]) -> None:
        self.data.setdefault(kind, []).extend(items)

    def record_artifacts(self, saga_id: str, step: str, keys: list[str]) -> None:
        self.artifact_intents.extend(keys)


class _MemoryArtifacts:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def delete(self, keys: list[str]) -> int:
        for key in keys:
            self.objects.pop(key, None)
        return len(keys)


def _step_for_run():
    from functions.common.faults import FaultPlan
    from functions.common.models import StepContext

    class _Step:
        saga_id = "s1"
        ctx = StepContext(saga_id="s1", execution_arn="arn", state="Execution")
        faults = FaultPlan({}, allowed=False)

    return _Step()


def test_run_hands_over_to_a_retry_before_the_invocation_runs_out_and_the_retry_resumes() -> None:
    from functions.agents.execution import run
    from functions.common.errors import AgentTransientError

    tests = [_test().model_copy(update={"test_id": f"t-{i:02d}"}) for i in range(25)]
    store, artifacts = _MemoryStore(tests), _MemoryArtifacts()
    clock = itertools.count(1000, -300)  # seconds left falls below the reserve at the fifth check
    with pytest.raises(AgentTransientError, match="a retry resumes"):
        run(
            _step_for_run(),
            store,
            artifacts,
            lambda url: HttpResponse(200, PAGE, 1),
            lambda: None,
            priority="low",
            seconds_left=lambda: float(next(clock)),
        )
    recorded = {r["test_id"] for r in store.data["runs"]}
    assert 0 < len(recorded) < 25
    assert set(artifacts.objects) == {f"runs/s1/{t}.json" for t in recorded}

    beats: list[int] = []
    result = run(
        _step_for_run(), store, artifacts, lambda url: HttpResponse(200, PAGE, 1), lambda: beats.append(1)
    )
    assert result["runs"] == 25  # the retry ran only what the first attempt had not recorded
    assert len({r["test_id"] for r in store.data["runs"]}) == len(store.data["runs"]) == 25
    assert len(beats) == 1 + 25 - len(recorded)  # a heartbeat as each check completes
