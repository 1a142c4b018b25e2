"""What is left to undo, from the ledger (``functions.agents.ledger.left_to_undo``): what the
compensation-failure handler puts in its dead letter."""

from __future__ import annotations

import pytest

from functions.agents.ledger import left_to_undo
from functions.common.store import ACTIVE, COMPENSATED, COMPENSATING

pytestmark = pytest.mark.unit


def test_an_empty_ledger_leaves_nothing() -> None:
    assert left_to_undo({}) == {}


def test_compensated_steps_are_skipped_and_the_rest_listed_by_kind() -> None:
    ledger = {
        "Requirements": {"status": COMPENSATED, "created_scenarios": ["sc-1"]},
        "Generation": {"status": COMPENSATING, "created_tests": ["t-2", "t-1"]},
        "Execution": {"status": ACTIVE, "created_runs": ["t-1"], "created_artifacts": ["runs/s/t-1.json"]},
    }
    assert left_to_undo(ledger) == {
        "Execution": {"runs": ["t-1"], "artifacts": ["runs/s/t-1.json"]},
        "Generation": {"tests": ["t-1", "t-2"]},  # ids sorted
    }


def test_steps_are_listed_in_name_order() -> None:
    ledger = {
        "Generation": {"status": ACTIVE, "created_tests": ["t-1"]},
        "Execution": {"status": ACTIVE, "created_runs": ["t-1"]},
    }
    assert list(left_to_undo(ledger)) == ["Execution", "Generation"]


def test_reports_are_never_undone_so_never_left() -> None:
    ledger = {
        "Observation": {"status": ACTIVE, "created_reports": ["observation"]},
        "Analysis": {"status": ACTIVE, "created_reports": ["analysis"]},
    }
    assert left_to_undo(ledger) == {}


def test_steps_that_created_nothing_are_left_out() -> None:
    ledger = {
        "Requirements": {"status": ACTIVE},
        "Generation": {"status": ACTIVE, "created_tests": []},
        "Execution": {"status": ACTIVE, "created_runs": ["t-1"], "created_artifacts": []},
    }
    assert left_to_undo(ledger) == {"Execution": {"runs": ["t-1"]}}


def test_a_set_of_ids_from_dynamodb_is_listed_sorted() -> None:
    ledger = {"Requirements": {"status": ACTIVE, "created_scenarios": {"sc-2", "sc-1"}}}
    assert left_to_undo(ledger) == {"Requirements": {"scenarios": ["sc-1", "sc-2"]}}


def test_an_entry_without_status_is_treated_as_not_compensated() -> None:
    assert left_to_undo({"Generation": {"created_tests": ["t-1"]}}) == {"Generation": {"tests": ["t-1"]}}
