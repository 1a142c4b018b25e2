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


def chained(n: int, previous: int, kind: str, **details: Any) -> dict[str, Any]:
    found = event(n, kind, **details)
    found["previousEventId"] = previous
    return found


# Two Map iterations interleaved as Step Functions records them: each event names the one before
# it in its own iteration (previousEventId), not the one before it in the history.
PARALLEL = [
    chained(1, 0, "ExecutionStarted"),
    chained(2, 1, "MapStateEntered", name="Execution"),
    chained(3, 2, "MapStateStarted"),
    chained(4, 3, "MapIterationStarted", name="Execution", index=0),
    chained(5, 4, "TaskStateEntered", name="ExecuteTest"),
    chained(6, 5, "LambdaFunctionScheduled"),
    chained(7, 3, "MapIterationStarted", name="Execution", index=1),
    chained(8, 7, "TaskStateEntered", name="ExecuteTest"),
    chained(9, 8, "LambdaFunctionScheduled"),
    chained(10, 6, "LambdaFunctionFailed", error="AgentTransientError", cause="flaky"),
    chained(11, 10, "LambdaFunctionScheduled"),
    chained(12, 9, "LambdaFunctionSucceeded"),
    chained(13, 12, "TaskStateExited", name="ExecuteTest"),
    chained(14, 13, "MapIterationSucceeded", name="Execution", index=1),
    chained(15, 11, "LambdaFunctionSucceeded"),
    chained(16, 15, "TaskStateExited", name="ExecuteTest"),
    chained(17, 16, "MapIterationSucceeded", name="Execution", index=0),
    chained(18, 17, "MapStateSucceeded"),
    chained(19, 18, "MapStateExited", name="Execution"),
    chained(20, 19, "TaskStateEntered", name="Observation"),
    chained(21, 20, "LambdaFunctionScheduled"),
]


def test_concurrent_map_iterations_are_named_and_retried_each_on_their_own() -> None:
    found = {r["id"]: (r["state"], r["error"]) for r in rows(PARALLEL)}
    assert found[4] == ("Execution [0]", None) and found[7] == ("Execution [1]", None)
    assert found[6] == ("ExecuteTest [0]", None)
    assert found[9] == ("ExecuteTest [1]", None)  # iteration 1's first attempt, not "retry 1"
    assert found[10] == ("ExecuteTest [0]", "AgentTransientError flaky")
    assert found[11] == ("ExecuteTest [0]", "retry 1")  # counted within iteration 0
    assert found[15] == ("ExecuteTest [0]", None)  # a later row still names its step
    assert found[17] == ("Execution [0]", None)
    assert [found[n][0] for n in (18, 19, 20, 21)] == ["Execution", "Execution", "Observation", "Observation"]
    assert found[21][1] is None
