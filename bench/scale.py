"""How time per test grows with a saga's size: N tests in one execution, on each machine.

    python -m bench.scale [--tests 100 300 1000 3000] [--machines test-generation ...] [--rounds 1]

Each round runs every size on every machine, sizes interleaved (small and large alternate on
one embedded stack, so a drift of the machine's speed touches every size alike). The table
gives each run's wall time and milliseconds per test, of wall time and of this process's CPU
time (everything runs in-process: the CPU figure holds up on a machine shared with other work),
and history events per test: Standard workflows fail past 25,000 history events, and an
inline Map spends ~7 events per item. The history's size (its events' JSON) is what the state
machine's log at level ALL with execution data ingests into CloudWatch Logs.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from functions.common.names import PARALLEL_TEST_GENERATION, TEST_GENERATION
from stepsaga.cli.demo_site import DemoSite
from stepsaga.embedded import EmbeddedStack
from tests.statemachine.sized_requests import request_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, nargs="+", default=[100, 300, 1000, 3000])
    parser.add_argument("--machines", nargs="+", default=[TEST_GENERATION, PARALLEL_TEST_GENERATION])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(
        "| machine | tests | status | wall time (s) | ms per test | CPU ms per test "
        "| history events | events per test | history MB | history KB per test |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with DemoSite() as site, EmbeddedStack() as stack:
        for _ in range(args.rounds):
            for size in args.tests:
                for machine in args.machines:
                    started, cpu = time.perf_counter(), time.process_time()
                    arn = stack.start(request_of(site.url, size), machine=machine)
                    described = stack.wait(arn, timeout=1800)
                    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                    history = stack.history(arn)
                    events, megabytes = len(history), len(json.dumps(history, default=str)) / 1e6
                    tests = max(len(stack.items("tests", described["name"])), 1)
                    print(
                        f"| {machine} | {tests} | {described['status']} | {elapsed:.1f} "
                        f"| {1000 * elapsed / tests:.1f} | {1000 * cpu / tests:.1f} "
                        f"| {events} | {events / tests:.1f} "
                        f"| {megabytes:.1f} | {1000 * megabytes / tests:.1f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
