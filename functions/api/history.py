"""Execution history rows as the Step Functions console shows them (id, type, state,
elapsed ms, error). The one implementation: the API serves it, ``stepsaga.cli.history``
renders it as a table (Lambda code cannot import ``infra``, so it lives here)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _ms(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp() * 1000
    return float(moment) * 1000


def _short(cause: str, limit: int = 200) -> str:
    try:  # Lambda errors arrive as a JSON document; keep its message
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
    except ValueError:
        pass
    cause = " ".join(cause.split())
    return cause if len(cause) <= limit else cause[: limit - 3] + "..."


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
        details = _details(event)
        if kind.endswith("StateEntered"):
            current = details.get("name", "")
        state = current if not kind.startswith("Execution") else ""
        error = None
        if "error" in details or "cause" in details:
            error = " ".join(
                part
                for part in (details.get("error") or "", _short(details.get("cause") or "", cause_limit))
                if part
            )
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
