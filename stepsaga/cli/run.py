"""The main job: two sagas on the embedded stack, their histories, and the data they left.

    python -m stepsaga.cli.run

One saga succeeds; the other fails permanently at Execution and is rolled back. A tiny
website on 127.0.0.1 stands in for the application under test.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from stepsaga.cli.demo_site import STORIES, UNMET_STORY, DemoSite, demo_request
from stepsaga.cli.history import render
from stepsaga.embedded import EmbeddedStack

MAIN_JOB_STORIES = (*STORIES, UNMET_STORY)  # the happy saga shows one failed test being analysed


def _data_left(stack: EmbeddedStack, saga_id: str) -> str:
    scenarios = stack.items("scenarios", saga_id)
    tests = stack.items("tests", saga_id)
    runs = stack.items("runs", saga_id)
    reports = {r["report"]: r for r in stack.items("reports", saga_id)}
    ledger = stack.items("ledger", saga_id)
    lines = [
        f"  scenarios: {len(scenarios)}",
        f"  tests:     {len(tests)} ({_count(tests, 'status')})",
        f"  runs:      {len(runs)} ({_count(runs, 'outcome') or '-'}; "
        f"cleaned: {_count(runs, 'status') or '-'})",
        f"  artifacts: {len(stack.artifact_keys(saga_id))} in S3",
    ]
    if "analysis" in reports:
        analysis = reports["analysis"]
        lines.append(
            f"  analysis:  pass rate {analysis['pass_rate']:.0%}, {len(analysis['failures'])} failing"
        )
    for proposal in reports.get("evolution", {}).get("proposals", []):
        lines.append(f"  proposal:  {proposal['test_id']}: {proposal['change']} ({proposal['rationale']})")
    for entry in sorted(ledger, key=lambda e: e["step"]):
        made = ", ".join(f"{len(v)} {k[8:]}" for k, v in entry.items() if k.startswith("created_"))
        lines.append(f"  ledger:    {entry['step']:<12} {entry['status']:<12} {made or 'nothing created'}")
    return "\n".join(lines)


def _count(items: list[dict[str, Any]], field: str) -> str:
    counts: dict[str, int] = {}
    for item in items:
        if field in item:
            counts[item[field]] = counts.get(item[field], 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="stepsaga run",
        description="Two sagas on an embedded stack (one succeeds, one fails at Execution and is "
        "rolled back), with their histories and the data they left behind.",
    ).parse_args(argv)
    started = time.perf_counter()
    with DemoSite() as site, EmbeddedStack() as stack:
        print(f"embedded stack deployed in {time.perf_counter() - started:.1f} s; target site {site.url}\n")
        request = demo_request(site.url, MAIN_JOB_STORIES)
        sagas = [
            ("happy path", {}),
            ("permanent failure at Execution", {"Execution": {"mode": "permanent"}}),
        ]
        for title, faults in sagas:
            t0 = time.perf_counter()
            described = stack.run(request, faults=faults)
            elapsed = (time.perf_counter() - t0) * 1000
            arn = described["executionArn"]
            saga_id = arn.rsplit(":", 1)[-1]
            print(f"=== {title}: {saga_id} -> {described['status']} in {elapsed:.0f} ms")
            if described.get("error"):
                print(f"    {described['error']}: {described.get('cause', '')}")
            print(render(stack.history(arn)))
            print("\nbusiness data left behind:")
            print(_data_left(stack, saga_id))
            print()
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
