"""Execution history rows as the Step Functions console shows them (id, type, state,
elapsed ms, error). The one definition: the API serves these rows, ``stepsaga.cli.history``
prints them as a table and the local viewer shows them (Lambda code cannot import
``stepsaga``, so it lives here)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def details(event: dict[str, Any]) -> dict[str, Any]:
    """The event's ``...EventDetails`` (name, error, cause...), whatever its type."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def message(cause: str) -> str:
    """A Lambda error's cause is a JSON document: its message is what a reader wants first."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return cause


def short(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp() * 1000
    return float(moment) * 1000


_ITERATION_ENDS = ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted")
Lane = tuple[int, ...]  # the Map iteration indexes an event runs in, outermost first; () outside any Map


def _lane(event: dict[str, Any], lanes: dict[int, Lane], ended: set[int], last: Lane) -> Lane:
    """Which Map iteration ``event`` belongs to, from its ``previousEventId`` chain: a
    MapIterationStarted opens an iteration, events follow the one before them, and the event
    after an iteration's end is back in the Map's own lane. Without a chain: the last lane."""
    previous = int(event.get("previousEventId") or 0)
    if event["type"] == "MapIterationStarted":
        index = details(event).get("index")
        return (*lanes.get(previous, ()), int(index)) if index is not None else lanes.get(previous, ())
    if "previousEventId" not in event:
        return last
    if previous not in lanes:
        return ()
    return lanes[previous][:-1] if previous in ended else lanes[previous]


def rows(events: list[dict[str, Any]], cause_limit: int = 200) -> list[dict[str, Any]]:
    """One dict per event (events in id order): ``id, type, state, elapsed_ms, error``.

    Concurrent Map iterations interleave in the history: each iteration keeps its own current
    state and retry count, and its rows are labelled ``ExecuteTest [3]`` (the iteration index)."""
    if not events:
        return []
    started = _ms(events[0]["timestamp"])
    lanes: dict[int, Lane] = {}
    ended: set[int] = set()  # events that end an iteration
    current: dict[Lane, str] = {}
    attempts: dict[tuple[Lane, str], int] = {}
    lane: Lane = ()
    found = []
    for event in events:
        kind = event["type"]
        detail = details(event)
        lane = _lane(event, lanes, ended, lane)
        lanes[int(event["id"])] = lane
        if kind in _ITERATION_ENDS:
            ended.add(int(event["id"]))
        if kind.endswith("StateEntered"):
            current[lane] = detail.get("name", "")
        name = current.get(lane, "") if not kind.startswith("Execution") else ""
        if kind.startswith("MapIteration"):  # the iteration itself, under its Map's name
            name = detail.get("name") or current.get(lane[:-1], "")
        state = f"{name} [{', '.join(map(str, lane))}]" if name and lane else name
        error = None
        if "error" in detail or "cause" in detail:
            cause = short(message(detail.get("cause") or ""), cause_limit)
            error = " ".join(part for part in (detail.get("error") or "", cause) if part)
        elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            attempts[lane, name] = attempts.get((lane, name), 0) + 1
            if attempts[lane, name] > 1:
                error = f"retry {attempts[lane, name] - 1}"
        found.append(
            {
                "id": int(event["id"]),
                "type": kind,
                "state": state,
                "elapsed_ms": int(_ms(event["timestamp"]) - started),
                "error": error,
            }
        )
        if kind.endswith("StateExited"):
            current.pop(lane, None)
    return found
