"""How far one parallel saga goes inline: N tests in one execution, its wall time and events.

    python -m bench.scale [--tests 1000]

Standard workflows fail past 25,000 history events; an inline Map spends ~7 events per item.
"""

from __future__ import annotations

import argparse
import time
import warnings

from functions.common.names import PARALLEL_TEST_GENERATION
from stepsaga.cli.demo_site import DemoSite
from stepsaga.embedded import EmbeddedStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=1000)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    with DemoSite() as site, EmbeddedStack() as stack:
        request = {"project": "scale", "target_url": site.url, "user_stories": ["See /"]}
        # A request carries at most 50 stories of 500 characters: each story expects 24 texts,
        # so it yields 25 tests (one page check + one per text).
        per_story = 24
        stories = [
            "Open / and see " + " ".join(f"'Welcome {i}.{j}'" for j in range(per_story))
            for i in range((args.tests + per_story) // (per_story + 1))
        ]
        request["user_stories"] = stories
        started = time.perf_counter()
        described = stack.wait(stack.start(request, machine=PARALLEL_TEST_GENERATION), timeout=1800)
        elapsed = time.perf_counter() - started
        events = stack.history(described["executionArn"])
        tests = len(stack.items("tests", described["name"]))
        per_item = (len(events) - 60) / tests if tests else 0
        print(
            "| tests | status | wall time (s) | history events | events per test "
            "| inline limit (25,000 events) |"
        )
        print("|---|---|---|---|---|---|")
        print(
            f"| {tests} | {described['status']} | {elapsed:.1f} | {len(events)} | {per_item:.1f} "
            f"| ~{int(25000 / per_item) if per_item else 0} tests |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
