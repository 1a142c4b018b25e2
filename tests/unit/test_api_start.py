"""POST /sagas's body (functions/api/models.StartSaga): which input each machine takes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from functions.api.models import StartSaga
from functions.common.models import MAX_PROJECTS, SagaRequest

REQUEST = {"project": "web", "target_url": "http://x.example/", "user_stories": ["See /"]}


def _projects(count: int) -> list[dict[str, Any]]:
    return [{"request": {**REQUEST, "project": f"p{i}"}} for i in range(count)]


def test_a_parent_takes_projects_each_validated_as_a_sagas_request() -> None:
    body = StartSaga.model_validate({"machine": "multi-project", "projects": _projects(2)})
    assert body.parent and body.problem() is None
    assert [p.request for p in body.projects or []] == [
        SagaRequest.model_validate(p["request"]) for p in _projects(2)
    ]
    single = StartSaga.model_validate({"request": REQUEST})
    assert not single.parent and single.problem() is None and single.machine == "test-generation"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"machine": "multi-project", "request": REQUEST}, "request: machine 'multi-project' runs one saga"),
        (
            {"machine": "multi-project"},
            f"projects: Field required by machine 'multi-project' (1 to {MAX_PROJECTS})",
        ),
        (
            {
                "machine": "multi-project",
                "projects": _projects(1),
                "faults": {"Generation": {"mode": "permanent"}},
            },
            "faults: machine 'multi-project' starts each child saga with its request alone",
        ),
        ({"projects": _projects(1)}, "projects: only machine 'multi-project' takes projects"),
        (
            {"machine": "reviewed-test-generation", "projects": _projects(1), "request": REQUEST},
            "projects: only machine 'multi-project' takes projects; machine 'reviewed-test-generation'",
        ),
        ({}, "request: Field required"),
    ],
)
def test_an_input_the_machine_does_not_take_is_named(document: dict[str, Any], problem: str) -> None:
    found = StartSaga.model_validate(document).problem()
    assert found is not None and found.startswith(problem), found


@pytest.mark.parametrize(
    ("projects", "where"),
    [
        ([], ("projects",)),
        (_projects(MAX_PROJECTS + 1), ("projects",)),
        ([{"request": {**REQUEST, "user_stories": []}}], ("projects", 0, "request", "user_stories")),
        ([{"request": REQUEST, "faults": {}}], ("projects", 0, "faults")),
        ([{}], ("projects", 0, "request")),
    ],
)
def test_bad_projects_are_refused_naming_the_field(projects: list[Any], where: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as refused:
        StartSaga.model_validate({"machine": "multi-project", "projects": projects})
    assert [e["loc"] for e in refused.value.errors()] == [where]


def test_the_most_projects_are_taken() -> None:
    body = StartSaga.model_validate({"machine": "multi-project", "projects": _projects(MAX_PROJECTS)})
    assert body.problem() is None and len(body.projects or []) == MAX_PROJECTS
