"""What the collector's thresholds cost a saga: CPython's default (700, 10, 10) against the ones
an embedded stack sets while it is deployed (``stack.COLLECT_EVERY``), interleaved.

    python -m bench.collector [--runs 40] [--concurrency 50] [--rounds 6]

One embedded stack, one process. ``--runs`` happy sagas one at a time per setting, alternating
saga by saga (median CPU and wall time per saga); then ``--rounds`` rounds of ``--concurrency``
sagas started at once per setting, the order alternating by round (median sagas/s and CPU per
saga). Every saga must succeed. The heap stays frozen (``gc.freeze()``) on both sides: only
the thresholds differ.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.stack import COLLECT_EVERY

SETTINGS: dict[str, tuple[int, int, int]] = {
    "CPython's default (700, 10, 10)": (700, 10, 10),
    f"while deployed {COLLECT_EVERY}": COLLECT_EVERY,
}


def _succeeded(described: dict[str, Any]) -> None:
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"a happy saga ended {described['status']}: {described}")


def measure(runs: int, concurrency: int, rounds: int) -> dict[str, dict[str, float]]:
    one: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    many: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    before = gc.get_threshold()
    with DemoSite() as site, EmbeddedStack() as stack:
        request = demo_request(site.url)
        for _ in range(3):
            _succeeded(stack.run(request))
        try:
            for run in range(runs):
                for name, thresholds in sorted(SETTINGS.items(), reverse=run % 2 == 1):
                    gc.set_threshold(*thresholds)
                    cpu, wall = time.process_time(), time.perf_counter()
                    _succeeded(stack.run(request))
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    one[name].append((cpu * 1000, wall * 1000))
            for round_ in range(rounds):
                for name, thresholds in sorted(SETTINGS.items(), reverse=round_ % 2 == 1):
                    gc.set_threshold(*thresholds)
                    cpu, wall = time.process_time(), time.perf_counter()
                    arns = [stack.start(request) for _ in range(concurrency)]
                    for arn in arns:
                        _succeeded(stack.wait(arn, timeout=300))
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    many[name].append((concurrency / wall, cpu * 1000 / concurrency))
        finally:
            gc.set_threshold(*before)
    return {
        name: {
            "cpu_ms": statistics.median(c for c, _ in one[name]),
            "wall_ms": statistics.median(w for _, w in one[name]),
            "sagas_per_s": statistics.median(r for r, _ in many[name]),
            "cpu_ms_concurrent": statistics.median(c for _, c in many[name]),
        }
        for name in SETTINGS
    }


def table(figures: dict[str, dict[str, float]], concurrency: int) -> str:
    at_once = f"{concurrency} at once"
    rows = [
        f"| thresholds | CPU per saga | wall per saga | {at_once} | CPU per saga, {at_once} |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        rows.append(
            f"| {name} | {f['cpu_ms']:.1f} ms | {f['wall_ms']:.1f} ms | {f['sagas_per_s']:.2f} sagas/s "
            f"| {f['cpu_ms_concurrent']:.0f} ms |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    print(table(measure(args.runs, args.concurrency, args.rounds), args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
