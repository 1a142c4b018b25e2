"""Where a saga is: the steps that succeeded, the one in progress, and the failure that ended it.

Read from the audit record (``functions.audit``: one event per step attempt) and the Sagas
record, never from the execution history. The ledger cannot answer this: it records what a
step created, so a step that failed after writing, or that a compensation fenced before it
wrote, has an entry like a step that succeeded, and the callback step writes as it goes.

- Steps run in order: a step has succeeded once it reports success or a later step starts.
- A state that is not a step of its own (the Map's ``ExecutionPolicy``) belongs to the first
  step that has not succeeded. Per-item events (the Map's ``ExecuteTest``) are not read: a large
  saga has thousands, and the step they belong to is known without them.
- The first compensation marks the rollback: the failed step is the first that had not
  succeeded; a gate never approved; a timeout, the state started last (a task's report of
  success may arrive after its timeout).
- Why: a cancel's reason from the Sagas record; else the error the rollback began with (the
  compensation's ``rollback_error``, written by ``functions.audit.steps`` from the Catch's
  ``$.error``, so a timeout that no handler saw is named too) with the failed attempt's own
  message when the two agree; else DescribeExecution's, unless it only names the saga's
  outcome (SagaRolledBack, CompensationFailed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions import audit
from functions.audit.saga_events import COMPENSATION_FAILED_ERROR, ROLLED_BACK_ERROR
from functions.common import aws
from functions.control.records import APPROVED, CANCELLED

GATE = "AwaitApproval"  # the approval gate's state (a gate is no step of SAGA_STEPS)
CANCELLED_ERROR = "SagaCancelled"  # the error a cancel fails the gate with
_OUTCOMES = (ROLLED_BACK_ERROR, COMPENSATION_FAILED_ERROR)  # the saga's own Fail states: no reason
_TIMEOUTS = ("States.Timeout", "States.HeartbeatTimeout")  # only a task that started can time out
_READ = (audit.STEP_STARTED, audit.STEP_SUCCEEDED, audit.STEP_FAILED, audit.COMPENSATION_STARTED)
_FIELDS = ("sk", "type", "state", "error", "message", "rollback_error", "rollback_cause")


@dataclass(frozen=True)
class Progress:
    completed: list[str]
    current: str | None
    failure: dict[str, str | None] | None


def step_events(table: str, saga_id: str) -> list[dict[str, Any]]:
    """The saga's step and compensation starts and outcomes, oldest first, without per-item events.

    Filtered in the query: a filter saves the transfer of the per-item events (not the read
    capacity, which counts every item of the saga's partition).
    """
    names = {f"#{i}": field for i, field in enumerate(_FIELDS)} | {"#item": "item"}
    values = {f":t{i}": {"S": kind} for i, kind in enumerate(_READ)} | {":s": {"S": saga_id}}
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "saga_id = :s",
        "FilterExpression": f"#1 IN ({', '.join(f':t{i}' for i in range(len(_READ)))}) "
        "AND attribute_not_exists(#item)",
        "ProjectionExpression": ", ".join(f"#{i}" for i in range(len(_FIELDS))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ConsistentRead": True,
    }
    ddb = aws.client("dynamodb")
    events: list[dict[str, Any]] = []
    while True:
        response = ddb.query(**arguments)
        events.extend({k: v["S"] for k, v in item.items() if "S" in v} for item in response.get("Items", []))
        if not response.get("LastEvaluatedKey"):
            return sorted(events, key=lambda e: e["sk"])  # the audit's order (sort key)
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def progress(
    steps: Sequence[str], events: Sequence[dict[str, Any]], described: dict[str, Any], record: dict[str, Any]
) -> Progress:
    """The saga's progress from its step ``events`` (``step_events``), its DescribeExecution
    answer and its Sagas ``record`` (status, signals)."""
    status = described["status"]
    index = {step: i for i, step in enumerate(steps)}
    began = next((i for i, e in enumerate(events) if e["type"] == audit.COMPENSATION_STARTED), len(events))
    forward, rollback = events[:began], events[began:]

    done, last = 0, None  # steps known to have succeeded (a prefix of ``steps``); the state started last
    for event in forward:
        state = event.get("state")
        if event["type"] == audit.STEP_SUCCEEDED and state in index:
            done = max(done, index[state] + 1)
        elif event["type"] == audit.STEP_STARTED:
            if state in index:
                done = max(done, index[state])
                last = state
            else:  # the gate, or a state of the step in progress
                last = state if state == GATE or done >= len(steps) else steps[done]

    if status == "SUCCEEDED":
        return Progress(list(steps), None, None)
    gate = record.get("status")  # None until the gate's handler records that it waits
    gate_open = gate not in (None, APPROVED) or (last == GATE and gate is None)
    failing = status != "RUNNING" or bool(rollback) or gate == CANCELLED
    # The first step that has not succeeded: one that started, or one that never could (a Map
    # state, or a Lambda that could not be invoked), leaves no event of its own.
    failed = steps[done] if done < len(steps) else last
    if failing and gate_open:
        failed = GATE
    elif failing and rollback and rollback[0].get("rollback_error") in _TIMEOUTS and last in index:
        failed, done = last, min(done, index[last])  # it may have reported success, too late
    completed = list(steps[:done])

    current = None
    if status == "RUNNING":
        started = [e for e in rollback if e["type"] in (audit.COMPENSATION_STARTED, audit.STEP_STARTED)]
        if started:
            current = started[-1].get("state")
        elif gate_open:
            current = GATE  # waiting, or its handler is recording that it waits
        else:
            current = steps[done] if done < len(steps) else None

    failure = _failure(failed, forward, rollback, described, record) if failing else None
    return Progress(completed, current, failure)


def _failure(
    step: str | None,
    forward: Sequence[dict[str, Any]],
    rollback: Sequence[dict[str, Any]],
    described: dict[str, Any],
    record: dict[str, Any],
) -> dict[str, str | None]:
    error: str | None = None
    cause: str | None = None
    attempt = forward[-1] if forward and forward[-1]["type"] == audit.STEP_FAILED else {}
    caught = rollback[0] if rollback else {}
    if record.get("status") == CANCELLED:
        cancels = [s for s in record.get("signals") or [] if s.get("signal") == "cancel"]
        error, cause = CANCELLED_ERROR, (cancels[-1].get("reason") if cancels else None)
    elif caught.get("rollback_error"):
        error = caught["rollback_error"]
        same = attempt.get("error") == error and attempt.get("message")
        cause = attempt["message"] if same else _message(caught.get("rollback_cause"))
    elif attempt:
        error, cause = attempt.get("error"), attempt.get("message")
    elif described.get("error") not in (None, *_OUTCOMES):
        error, cause = described["error"], _message(described.get("cause"))
    return {"step": step, "error": error, "cause": cause}


def _message(cause: str | None) -> str | None:
    """A Lambda error's cause is its JSON error object: its message is what a person reads."""
    try:
        parsed = json.loads(cause or "")
    except ValueError:
        return cause or None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        return str(parsed["errorMessage"])
    return cause or None


FAILURES_SHOWN = 50  # a status answer stays small however many tests failed


def results(reports: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """What the saga found, from its Reports (Analysis and Evolution write them; a rollback
    leaves them): tests, pass rate, failed tests with reasons, proposals. None before Analysis."""
    found = {str(r.get("report")): r for r in reports}
    analysis = found.get("analysis")
    if analysis is None:
        return None
    failures = [
        {"test_id": str(f["test_id"]), "name": str(f.get("name", "")), "reason": str(f.get("reason", ""))}
        for f in analysis.get("failures") or []
    ]
    return {
        "tests": int(analysis.get("total", 0)),
        "pass_rate": float(analysis.get("pass_rate", 0)),
        "failed": int(analysis.get("failures_count", len(failures))),  # the report's parts hold the rest
        "failures": failures[:FAILURES_SHOWN],
        "execution_failures": [str(t) for t in analysis.get("execution_failures") or []],
        "proposals": [
            {k: str(v) for k, v in p.items() if v is not None}
            for p in (found.get("evolution") or {}).get("proposals") or []
        ][:FAILURES_SHOWN],
    }
