"""The local test loop: wall time of the test suite and of the fault matrix, side by side.

    python -m bench.testloop [--repeat 2] [--skip-full]

Each command runs in a fresh interpreter twice per repeat: with the embedded stack's speed
adaptations (``STEPSAGA_SPEED=on``, the default) and without them (``STEPSAGA_SPEED=off``,
stock moto), alternately, so machine noise hits both alike. A run that fails counts as no
figure: the table says so instead of timing a broken suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

LOOPS = {
    "fault matrix": ["tests/statemachine/test_fault_matrix.py"],
    "full suite": [],
}


def timed(arguments: list[str], speed: str) -> float | None:
    """Seconds one ``pytest -q`` run took, or None if it failed."""
    environment = {**os.environ, "STEPSAGA_SPEED": speed}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-x", *arguments],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed if done.returncode == 0 else None


def median(values: list[float | None]) -> float | None:
    ok = [v for v in values if v is not None]
    return statistics.median(ok) if len(ok) == len(values) else None


def shown(seconds: float | None) -> str:
    return "failed" if seconds is None else f"{seconds:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true", help="time the fault matrix only")
    args = parser.parse_args(argv)
    print("| test loop | embedded (s, median) | stock moto (s, median) | speed-up |")
    print("|---|---|---|---|")
    failed = False
    for name, arguments in LOOPS.items():
        if args.skip_full and not arguments:
            continue
        fast: list[float | None] = []
        stock: list[float | None] = []
        for _ in range(args.repeat):
            fast.append(timed(arguments, "on"))
            stock.append(timed(arguments, "off"))
        f, s = median(fast), median(stock)
        if f is None or s is None:
            failed = True
            print(f"| {name} | {shown(f)} | {shown(s)} | - |")
        else:
            print(f"| {name} | {f:.1f} | {s:.1f} | {s / f:.1f}x |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
