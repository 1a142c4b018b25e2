"""Execution history as the Step Functions console shows it: one row per event, with the
state it belongs to, the time since the execution started, and the error if any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.api.history import rows as history_rows


@dataclass(frozen=True)
class Row:
    id: int
    type: str
    state: str
    elapsed_ms: int
    detail: str


def rows(events: list[dict[str, Any]]) -> list[Row]:
    """Console rows for a history (events in id order)."""
    return [
        Row(r["id"], r["type"], r["state"], r["elapsed_ms"], r["error"] or "")
        for r in history_rows(events, cause_limit=90)
    ]


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
