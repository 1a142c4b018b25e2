"""The console's history table as text: ``stepsaga run`` prints it for each saga and
``stepsaga saga history`` for the rows the API serves. The rows themselves have one
definition, ``functions.api.history.rows``; this module only lays them out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from functions.api.history import rows

CAUSE_LIMIT = 90  # an error column that keeps a row on a terminal line
HEADER = ("ID", "Type", "Step", "Elapsed (ms)", "Error / note")


def table(history: Sequence[Mapping[str, Any]]) -> str:
    """History rows (``id, type, state, elapsed_ms, error``) as aligned text; elapsed right-aligned."""
    lines = [HEADER]
    lines += [
        (str(r["id"]), r["type"], r["state"] or "", str(r["elapsed_ms"]), r.get("error") or "")
        for r in history
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = []
    for index, line in enumerate(lines):
        cells = [line[i].ljust(widths[i]) if i != 3 else line[i].rjust(widths[i]) for i in range(4)]
        text.append("  ".join([*cells, line[4]]).rstrip())
        if index == 0:  # the last column is as long as it needs: its rule is as wide as its title
            text.append("  ".join("-" * w for w in widths) + "  " + "-" * len(HEADER[4]))
    return "\n".join(text)


def render(events: list[dict[str, Any]]) -> str:
    """An execution's history (events in id order) as the console's table."""
    return table(rows(events, cause_limit=CAUSE_LIMIT))
