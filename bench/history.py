"""What a saga's history costs to read: ``EmbeddedStack.history`` with the history's JSON written
directly (``stepfunctions_api.history_json``, the body not scanned for XML's ``<RequestId>``:
``moto_core.install_json_answers_unscanned``) and as before, by moto's serialiser, interleaved.

    python -m bench.history [--tests 1000] [--rounds 5] [--calls 3]

One embedded stack runs a parallel saga of ``--tests`` tests and the 6-step demo saga; then each
round reads each history ``--calls`` times both ways, the order alternating by round, so a drift
of the machine's speed touches both alike. Every other speed patch stays on: only those two
differ. Prints ms per call (median of the rounds, wall and this process's CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

from functions.common.names import PARALLEL_TEST_GENERATION, TEST_GENERATION
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import guard, stepfunctions_api
from tests.statemachine.sized_requests import request_of

WAYS = ("moto's serialiser", "written directly")
ENRICH = "moto.core.responses.BaseResponse._enrich_response"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    direct = stepfunctions_api.history_json

    def moto_only(result: Any, context: Any) -> None:
        return None  # HistoryResult falls back to moto's serialiser, as before the fast path

    with DemoSite() as site, EmbeddedStack() as stack:
        from moto.core.responses import BaseResponse

        unscanned = BaseResponse.__dict__["_enrich_response"]
        scanned = staticmethod(guard.ORIGINALS[ENRICH])
        sagas = {
            f"parallel, {args.tests} tests": stack.run(
                request_of(site.url, args.tests), machine=PARALLEL_TEST_GENERATION
            ),
            "6-step demo saga": stack.run(demo_request(site.url), machine=TEST_GENERATION),
        }
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        events: dict[str, int] = {}
        try:
            for round_ in range(args.rounds):
                for saga, described in sagas.items():
                    answers = []
                    for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
                        stepfunctions_api.history_json = direct if way == WAYS[1] else moto_only
                        BaseResponse._enrich_response = unscanned if way == WAYS[1] else scanned  # type: ignore[method-assign]
                        started, cpu = time.perf_counter(), time.process_time()
                        for _ in range(args.calls):
                            history = stack.history(described["executionArn"])
                        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                        times.setdefault((saga, way), []).append((wall / args.calls, cpu / args.calls))
                        answers.append(history)
                        events[saga] = len(history)
                    assert answers[0] == answers[1], f"{saga}: the two ways answer differently"
        finally:
            stepfunctions_api.history_json = direct
            BaseResponse._enrich_response = unscanned  # type: ignore[method-assign]
    print("| saga | events | way | ms per call | CPU ms per call |")
    print("|---|---|---|---|---|")
    for (saga, way), measured in times.items():
        wall = 1000 * statistics.median(m[0] for m in measured)
        cpu = 1000 * statistics.median(m[1] for m in measured)
        print(f"| {saga} | {events[saga]} | {way} | {wall:.1f} | {cpu:.1f} |")
    for saga in sagas:
        ratio = statistics.median(m[0] for m in times[(saga, WAYS[0])]) / statistics.median(
            m[0] for m in times[(saga, WAYS[1])]
        )
        print(f"{saga}: {ratio:.1f}x faster written directly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
