"""Execution history as the Step Functions console shows it: one row per event, with the
state it belongs to, the time since the execution started, and the error if any."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Row:
    id: int
    type: str
    state: str
    elapsed_ms: int
    detail: str


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _ms(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp() * 1000
    return float(moment) * 1000


def rows(events: list[dict[str, Any]]) -> list[Row]:
    """Console rows for a history (events in id order)."""
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
        detail = ""
        if "error" in details or "cause" in details:
            detail = " ".join(
                part for part in (details.get("error") or "", _short(details.get("cause") or "")) if part
            )
        elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            attempts[state] = attempts.get(state, 0) + 1
            if attempts[state] > 1:
                detail = f"retry {attempts[state] - 1}"
        found.append(Row(event["id"], kind, state, int(_ms(event["timestamp"]) - started), detail))
        if kind.endswith("StateExited"):
            current = ""
    return found


def _short(cause: str, limit: int = 90) -> str:
    try:  # Lambda errors arrive as a JSON document; keep its message
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
    except ValueError:
        pass
    cause = " ".join(cause.split())
    return cause if len(cause) <= limit else cause[: limit - 3] + "..."


def render(events: list[dict[str, Any]]) -> str:
    table = [("ID", "Type", "Step", "Elapsed (ms)", "Error / note")]
    table += [(str(r.id), r.type, r.state, str(r.elapsed_ms), r.detail) for r in rows(events)]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = []
    for index, line in enumerate(table):
        cells = [line[i].ljust(widths[i]) if i != 3 else line[i].rjust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, line[4]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 12)
    return "\n".join(lines)
