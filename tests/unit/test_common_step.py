"""functions/common/step.py: parsing a task's event, with errors a client can act on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from functions.common.errors import InvalidRequest
from functions.common.models import SagaInput, SagaRequest
from functions.common.step import Step, describe, parse_event, parse_input

pytestmark = pytest.mark.unit


def _request(**overrides: Any) -> dict[str, Any]:
    return {"project": "demo", "target_url": "https://example.com", "user_stories": ["I open /"], **overrides}


def _event(saga: dict[str, Any], **context: Any) -> dict[str, Any]:
    return {
        "saga": saga,
        "context": {"saga_id": "saga-1", "execution_arn": "arn:x", "state": "Requirements", **context},
    }


def _validation_error(document: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        SagaInput.model_validate(document)
    return caught.value


def test_describe_names_the_field_on_one_line() -> None:
    text = describe(_validation_error({"request": _request(target_url="not a url")}))
    assert text.startswith("request.target_url: ")
    assert "\n" not in text
    assert "https://errors.pydantic.dev" not in text


def test_describe_joins_several_problems() -> None:
    text = describe(_validation_error({"request": _request(target_url="nope", user_stories=[])}))
    parts = text.split("; ")
    assert len(parts) == 2
    assert {p.split(":")[0] for p in parts} == {"request.target_url", "request.user_stories"}
    assert "\n" not in text


def test_describe_names_list_items_by_index() -> None:
    with pytest.raises(ValidationError) as caught:
        SagaRequest.model_validate(_request(user_stories=["ok", 3]))
    assert describe(caught.value).startswith("user_stories.1: ")


def test_parse_input_returns_the_typed_request() -> None:
    parsed = parse_input({"request": _request(), "faults": {"Execution": {"mode": "transient", "times": 2}}})
    assert parsed.request.project == "demo"
    assert parsed.faults["Execution"].times == 2


def test_parse_input_raises_invalid_request_naming_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^request\.project: Field required$"):
        parse_input({"request": {"target_url": "https://example.com", "user_stories": ["I open /"]}})


def test_parse_input_reports_a_missing_request() -> None:
    with pytest.raises(InvalidRequest, match=r"^request: Field required$"):
        parse_input({})


def test_lenient_parse_ignores_what_later_states_add() -> None:
    saga = {"request": _request(), "results": {"Requirements": {"scenarios": 1}}, "error": {"Error": "X"}}
    assert parse_input(saga).request.project == "demo"


def test_a_document_seen_before_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each of a parallel saga's items brings the same request; its validation reads every story.
    import functions.common.models as models

    counted: list[int] = []
    monkeypatch.setattr(models, "yielded_tests", lambda stories: counted.append(1) or len(stories))
    saga = {"request": _request(project="cached-once"), "faults": {"Execution": {"mode": "permanent"}}}
    first = parse_input(saga)
    assert parse_input({**saga, "results": {"Generation": {"tests": 1}}}) is first
    assert len(counted) == 1
    assert parse_input({**saga, "faults": {}}).faults == {}  # another document: validated anew
    assert len(counted) == 2


def test_an_invalid_document_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidRequest, match=r"^request\.target_url: "):
            parse_input({"request": _request(target_url="not a url")})


def test_strict_parse_rejects_unknown_top_level_fields() -> None:
    with pytest.raises(InvalidRequest, match=r"^surprise: Extra inputs are not permitted$"):
        parse_input({"request": _request(), "surprise": True}, strict=True)


def test_lenient_parse_still_rejects_unknown_request_fields() -> None:
    with pytest.raises(InvalidRequest, match=r"request\.surprise"):
        parse_input({"request": _request(surprise=True)}, strict=False)


def test_parse_event_wraps_malformed_events() -> None:
    with pytest.raises(InvalidRequest, match=r"^malformed task event: .*context"):
        parse_event({"saga": {}})


@pytest.fixture
def no_faults_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOW_FAULT_INJECTION", raising=False)
    monkeypatch.delenv("ALLOWED_PRIVATE_HOSTS", raising=False)


def test_step_exposes_its_context_and_earlier_results(no_faults_allowed: None) -> None:
    saga = {"request": _request(), "results": {"Generation": {"tests": 4}}}
    step = Step(_event(saga, attempt=2))
    assert step.saga_id == "saga-1"
    assert step.ctx.attempt == 2
    assert step.result_of("Generation") == {"tests": 4}
    assert step.result_of("Execution") == {}
    assert step.input.request.project == "demo"


def test_strict_step_rejects_faults_when_injection_is_disabled(no_faults_allowed: None) -> None:
    saga = {"request": _request(), "faults": {"Generation": {"mode": "permanent"}}}
    with pytest.raises(InvalidRequest, match="fault injection is disabled"):
        Step(_event(saga), strict=True)
    # A later step ignores them instead: the plan injects nothing.
    step = Step(_event(saga, state="Generation"))
    assert step.faults.for_state("Generation") is None


def test_step_honours_faults_when_injection_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_FAULT_INJECTION", "true")
    saga = {"request": _request(), "faults": {"Generation": {"mode": "permanent"}}}
    step = Step(_event(saga, state="Generation"), strict=True)
    assert step.faults.for_state("Generation") is not None


def _item(saga: dict[str, Any]) -> dict[str, Any]:
    return {**_event(saga, state="ExecuteTest"), "item": "t-1"}


def test_a_map_item_reads_its_faults_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_FAULT_INJECTION", "true")
    faults = {"ExecuteTest": {"mode": "permanent"}}
    step = Step(_item({"faults": faults}))
    assert step.item == "t-1"
    assert step.faults.for_state("ExecuteTest") is not None
    with pytest.raises(RuntimeError, match="ExecuteTest is a Map item: its task has no request"):
        step.input  # noqa: B018
    # An item of an execution started on an earlier definition brings the whole document.
    assert Step(_item({"request": _request(), "faults": faults})).faults.for_state("ExecuteTest")
    assert Step(_item({})).faults.for_state("ExecuteTest") is None


def test_a_map_item_with_a_malformed_fault_is_refused_naming_it(no_faults_allowed: None) -> None:
    with pytest.raises(InvalidRequest, match=r"^faults\.ExecuteTest\.mode: "):
        Step(_item({"faults": {"ExecuteTest": {"mode": "sometimes"}}}))
