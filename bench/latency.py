"""Per-saga latency on the embedded stack, with and without the speed adaptations, side by side.

    python -m bench.latency [--runs 20]

Both variants run in one process against one deployed stack, interleaved, so machine noise
hits them alike; the figure that matters is the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from infra.local import EmbeddedStack, adapters
from infra.local.demo_site import DemoSite

STORIES = [
    'As a visitor I open / and see "Welcome to Acme"',
    "As a buyer I open /pricing and see 'Plans' and 'Free trial'",
    'As a member I open /login and see "Sign in"',
]
PATHS = {"happy": {}, "fail at Execution": {"Execution": {"mode": "permanent"}}}


def measure(stack: EmbeddedStack, request: dict, faults: dict, speed: bool) -> float:
    adapters.SPEED.enabled = speed
    started = time.perf_counter()
    described = stack.run(request, faults=faults)
    elapsed = (time.perf_counter() - started) * 1000
    assert described["status"] in ("SUCCEEDED", "FAILED"), described
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with DemoSite() as site, EmbeddedStack() as stack:
        request = {"project": "bench", "target_url": site.url, "user_stories": STORIES}
        for faults in PATHS.values():  # warm both variants: imports, first parse, first clients
            measure(stack, request, faults, True)
            measure(stack, request, faults, False)
        print("| path | embedded (ms, median / p95) | stock moto (ms, median / p95) | speed-up |")
        print("|---|---|---|---|")
        for name, faults in PATHS.items():
            fast, stock = [], []
            for _ in range(args.runs):
                fast.append(measure(stack, request, faults, True))
                stock.append(measure(stack, request, faults, False))
            f50, s50 = statistics.median(fast), statistics.median(stock)
            f95 = statistics.quantiles(fast, n=20)[-1]
            s95 = statistics.quantiles(stock, n=20)[-1]
            print(f"| {name} | {f50:.0f} / {f95:.0f} | {s50:.0f} / {s95:.0f} | {s50 / f50:.1f}x |")
        adapters.SPEED.enabled = True


if __name__ == "__main__":
    main()
