"""Whom the reporter and SagaEvents believe: functions/common/executions.refusal."""

from __future__ import annotations

import pytest

from functions.common.executions import refusal

pytestmark = pytest.mark.unit

FAILED_ONCE_REDRIVEN = {"name": "s1", "status": "RUNNING", "redriveCount": 1}


def test_an_event_about_no_execution_is_refused() -> None:
    assert refusal(None, name="s1", status="SUCCEEDED", field="detail") == "detail: no such execution"


def test_an_event_naming_another_saga_is_refused() -> None:
    reason = refusal({"name": "s2", "status": "RUNNING"}, name="s1", status=None, field="detail")
    assert reason == "detail: the execution is named 's2', not 's1'"


def test_a_forged_end_is_refused_and_a_true_one_believed() -> None:
    running = {"name": "s1", "status": "RUNNING"}
    assert (
        refusal(running, name="s1", status="SUCCEEDED", field="d")
        == "d: the execution is RUNNING, not SUCCEEDED"
    )
    assert refusal({"name": "s1", "status": "FAILED"}, name="s1", status="FAILED", field="d") is None


def test_a_late_start_is_believed_unless_strict() -> None:
    ended = {"name": "s1", "status": "SUCCEEDED"}
    assert refusal(ended, name="s1", status="RUNNING", field="d") is None
    assert refusal(ended, name="s1", status="RUNNING", field="d", strict=True) == (
        "d: the execution is SUCCEEDED, not RUNNING"
    )


def test_the_end_of_a_run_before_a_redrive_is_believed() -> None:
    assert refusal(FAILED_ONCE_REDRIVEN, name="s1", status="FAILED", field="d", redrive_count=0) is None
    # The current run has not ended: an end event of this run is still refused.
    assert refusal(FAILED_ONCE_REDRIVEN, name="s1", status="FAILED", field="d", redrive_count=1) == (
        "d: the execution is RUNNING, not FAILED"
    )
