"""stepsaga/cli/history.py: the console's history table, laid out from the API's rows (one
definition of a row: functions/api/history.py). ``stepsaga run`` prints it, and so does
``stepsaga saga history`` for the rows the API serves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api.history import rows
from stepsaga.cli.history import CAUSE_LIMIT, render, table
from stepsaga.cli.saga import render_history

pytestmark = pytest.mark.unit


def event(n: int, kind: str, **details: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": n, "type": kind, "timestamp": float(n)}
    if details:
        key = "stateEnteredEventDetails" if kind.endswith("StateEntered") else ""
        key = key or ("stateExitedEventDetails" if kind.endswith("StateExited") else "")
        found[key or kind[0].lower() + kind[1:] + "EventDetails"] = details
    return found


EVENTS = [
    event(1, "ExecutionStarted"),
    event(2, "TaskStateEntered", name="Requirements"),
    event(3, "LambdaFunctionScheduled"),
    event(4, "LambdaFunctionFailed", error="AgentTransientError", cause="why"),
    event(5, "LambdaFunctionScheduled"),
    event(6, "LambdaFunctionSucceeded"),
    event(7, "TaskStateExited", name="Requirements"),
    event(8, "ExecutionFailed", error="X" * 40, cause=json.dumps({"errorMessage": "long " * 40})),
]

# As `stepsaga run` printed it before the table had one definition.
TABLE = """\
ID  Type                     Step          Elapsed (ms)  Error / note
--  -----------------------  ------------  ------------  ------------
1   ExecutionStarted                                  0
2   TaskStateEntered         Requirements          1000
3   LambdaFunctionScheduled  Requirements          2000
4   LambdaFunctionFailed     Requirements          3000  AgentTransientError why
5   LambdaFunctionScheduled  Requirements          4000  retry 1
6   LambdaFunctionSucceeded  Requirements          5000
7   TaskStateExited          Requirements          6000
8   ExecutionFailed                                7000  {x} {long}...""".format(
    x="X" * 40, long=("long " * 17 + "lo")
)


def test_the_table_is_the_one_stepsaga_run_prints() -> None:
    assert render(EVENTS) == TABLE
    assert len(TABLE.splitlines()[-1].split("X" * 40 + " ")[1]) == CAUSE_LIMIT  # the cause is cut


def test_an_empty_history_is_a_header() -> None:
    assert render([]).splitlines() == [
        "ID  Type  Step  Elapsed (ms)  Error / note",
        "--  ----  ----  ------------  ------------",
    ]


def test_the_saga_command_lays_out_the_api_rows_the_same_way() -> None:
    served = json.loads(json.dumps(rows(EVENTS, cause_limit=CAUSE_LIMIT)))  # as the API sends them
    assert render_history(served) == table(served) == TABLE
