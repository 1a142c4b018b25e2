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


def rows(events: list[dict[str, Any]], cause_limit: int = 200) -> list[dict[str, Any]]:
    """One dict per event (events in id order): ``id, type, state, elapsed_ms, error``."""
    if not events:
        return []
    started = _ms(events[0]["timestamp"])
    current = ""
    attempts: dict[str, int] = {}
    found = []
    for event in events:
        kind = event["type"]
        detail = details(event)
        if kind.endswith("StateEntered"):
            current = detail.get("name", "")
        state = current if not kind.startswith("Execution") else ""
        error = None
        if "error" in detail or "cause" in detail:
            cause = short(message(detail.get("cause") or ""), cause_limit)
            error = " ".join(part for part in (detail.get("error") or "", cause) if part)
        elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            attempts[state] = attempts.get(state, 0) + 1
            if attempts[state] > 1:
                error = f"retry {attempts[state] - 1}"
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
            current = ""
    return found
