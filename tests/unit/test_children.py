"""A parent saga's summary of its children: which to compensate."""

from __future__ import annotations

import json

import pytest

from functions.agents.children import summarise

pytestmark = pytest.mark.unit

PROJECTS = [{"request": {"project": f"p{i}"}} for i in range(5)]


def _failed(name: str, error: str | None) -> dict:
    cause = json.dumps({"Status": "FAILED", "Error": error}) if error else "not json"
    return {"name": name, "status": "FAILED", "error": "States.TaskFailed", "cause": cause}


def test_succeeded_children_and_children_that_did_not_roll_back_are_compensated() -> None:
    children = [
        {"name": "x-p0", "status": "SUCCEEDED"},
        _failed("x-p1", "SagaRolledBack"),  # undid its own work
        _failed("x-p2", "InvalidRequest"),  # never wrote anything
        _failed("x-p3", "CompensationFailed"),  # stuck half-way: the rollback machine resumes it
        _failed("x-p4", None),  # timed out or aborted: no compensation ran
    ]
    summary = summarise(children, PROJECTS)

    assert [c["name"] for c in summary["to_compensate"]] == ["x-p0", "x-p3", "x-p4"]
    assert summary["to_compensate"][1]["request"] == {"project": "p3"}
    assert summary["failed"] == ["x-p1", "x-p2", "x-p3", "x-p4"]
    assert (summary["succeeded_count"], summary["failed_count"]) == (1, 4)


def test_all_children_succeeded_means_nothing_failed() -> None:
    children = [{"name": f"x-p{i}", "status": "SUCCEEDED"} for i in range(2)]
    assert summarise(children, PROJECTS)["failed_count"] == 0
