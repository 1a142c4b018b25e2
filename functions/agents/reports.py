"""Reports in parts: no report item grows with the number of tests.

A report's per-test fields (Observation's outcomes, Analysis' failures, Evolution's
proposals) would grow one item past DynamoDB's 400 KB at a few thousand tests, failing the
step of a saga the API accepted. The report item keeps its name, its totals and the first
``PART`` entries of each such field, with ``parts`` saying how many items hold it; the rest
go to items ``<report>#1``, ``<report>#2``... of ``PART`` entries each (an entry is at most
about 1 KB: a test's name, a reason, a proposal's rationale). ``joined`` puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

PART = 100  # entries per field and item: ~100 KB at most, a quarter of an item's limit


def _entries(value: Any) -> list[Any]:
    return list(value.items()) if isinstance(value, dict) else list(value)


def _slice(value: Any, start: int) -> Any:
    part = _entries(value)[start : start + PART]
    return dict(part) if isinstance(value, dict) else part


def split(report: dict[str, Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The items that hold ``report`` (named by its ``report`` key)."""
    longest = max((len(_entries(report.get(f) or [])) for f in fields), default=0)
    count = max(1, -(-longest // PART))
    first = {**report, **{f: _slice(report[f], 0) for f in fields if f in report}}
    first.update({f"{f}_count": len(_entries(report[f])) for f in fields if f in report}, parts=count)
    rest = [
        {
            "report": f"{report['report']}#{n}",
            **{f: _slice(report[f], n * PART) for f in fields if f in report},
        }
        for n in range(1, count)
    ]
    return [first, *rest]


def joined(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Reports by name, each with its parts' entries appended in order."""
    reports: dict[str, dict[str, Any]] = {}
    parts: list[tuple[str, int, dict[str, Any]]] = []
    for item in items:
        name, _, number = str(item["report"]).partition("#")
        if number:
            parts.append((name, int(number), item))
        else:
            reports[name] = {**item}
    for name, _, part in sorted(parts, key=lambda p: (p[0], p[1])):
        report = reports.get(name)
        if report is None:
            continue
        for field, value in part.items():
            if field == "report" or field == "saga_id":
                continue
            if isinstance(value, dict):
                report[field] = {**(report.get(field) or {}), **value}
            else:
                report[field] = [*(report.get(field) or []), *value]
    return reports
