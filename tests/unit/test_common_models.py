"""functions/common/models.py: the request a client sends, validated."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from functions.common.models import MAX_STORIES, MAX_STORY_CHARS, Fault, SagaInput, SagaRequest

pytestmark = pytest.mark.unit


def _request(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": "demo shop",
        "target_url": "https://example.com",
        "user_stories": ['As a visitor I open /pricing and see "Plans"'],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def _errors(document: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        SagaRequest.model_validate(document)
    return caught.value.errors()


def _locs(document: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {tuple(e["loc"]) for e in _errors(document)}


def test_a_valid_request() -> None:
    request = SagaRequest.model_validate(_request())
    assert request.project == "demo shop"
    assert str(request.target_url) == "https://example.com/"
    assert request.user_stories == ['As a visitor I open /pricing and see "Plans"']


@pytest.mark.parametrize("field", ["project", "target_url", "user_stories"])
def test_missing_fields_are_named(field: str) -> None:
    errors = _errors(_request(**{field: ...}))
    assert [(tuple(e["loc"]), e["type"]) for e in errors] == [((field,), "missing")]


@pytest.mark.parametrize("url", ["not a url", "example.com", "https://", "http//example.com", ""])
def test_invalid_urls_are_rejected(url: str) -> None:
    assert _locs(_request(target_url=url)) == {("target_url",)}


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "javascript:alert(1)"])
def test_non_http_urls_are_rejected(url: str) -> None:
    assert _locs(_request(target_url=url)) == {("target_url",)}


@pytest.mark.parametrize("url", ["http://example.com", "https://example.com:8443/app?x=1"])
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert SagaRequest.model_validate(_request(target_url=url)).target_url.scheme in ("http", "https")


def test_an_empty_story_list_is_rejected() -> None:
    assert _locs(_request(user_stories=[])) == {("user_stories",)}


def test_too_many_stories_are_rejected() -> None:
    assert _locs(_request(user_stories=["I open /"] * (MAX_STORIES + 1))) == {("user_stories",)}
    SagaRequest.model_validate(_request(user_stories=["I open /"] * MAX_STORIES))


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_blank_story_is_rejected(blank: str) -> None:
    errors = _errors(_request(user_stories=["I open /", blank]))
    assert len(errors) == 1
    assert errors[0]["loc"] == ("user_stories",)
    assert "user story 1 is empty" in errors[0]["msg"]


def test_a_too_long_story_is_rejected() -> None:
    errors = _errors(_request(user_stories=["x" * (MAX_STORY_CHARS + 1)]))
    assert len(errors) == 1
    assert f"user story 0 is longer than {MAX_STORY_CHARS} characters" in errors[0]["msg"]
    SagaRequest.model_validate(_request(user_stories=["x" * MAX_STORY_CHARS]))


def test_an_unknown_field_is_rejected() -> None:
    errors = _errors(_request(target="https://example.com"))
    assert [(tuple(e["loc"]), e["type"]) for e in errors] == [(("target",), "extra_forbidden")]


@pytest.mark.parametrize("project", ["", " leading-space", "semi;colon", "x" * 101, "../etc"])
def test_bad_project_names_are_rejected(project: str) -> None:
    assert _locs(_request(project=project)) == {("project",)}


def test_the_request_is_immutable() -> None:
    request = SagaRequest.model_validate(_request())
    with pytest.raises(ValidationError):
        request.project = "other"  # type: ignore[misc]


def test_fault_modes_and_bounds() -> None:
    assert Fault(mode="transient").times == 1
    with pytest.raises(ValidationError):
        Fault(mode="flaky")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Fault(mode="transient", times=0)
    with pytest.raises(ValidationError):
        Fault(mode="transient", times=101)


def test_saga_input_rejects_unknown_fields_and_validates_nested_faults() -> None:
    document = {"request": _request(), "faults": {"Generation": {"mode": "partial"}}}
    assert SagaInput.model_validate(document).faults["Generation"].mode == "partial"
    with pytest.raises(ValidationError):
        SagaInput.model_validate({**document, "extra": 1})
    with pytest.raises(ValidationError):
        SagaInput.model_validate(
            {"request": _request(), "faults": {"Generation": {"mode": "partial", "x": 1}}}
        )
