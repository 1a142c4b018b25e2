"""Per-saga latency of the 6-step saga on the embedded stack, side by side with stock moto.

    python -m bench.latency [--runs 20] [--paths happy,Execution] [--png docs/latency.png]

Paths: the happy path, and a permanent failure at each step (rolled back through the
compensations). Both variants (the speed adaptations on, and off: stock moto) run in one
process against one deployed stack, interleaved, so machine noise hits them alike; the
figure that matters is the ratio. Every run is checked: the happy path must succeed, a
failure must end ``SagaRolledBack``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

from statemachines.catalogue import TEST_GENERATION
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches.speed import SPEED

STEPS = [step.name for step in TEST_GENERATION.steps]
PATHS: dict[str, dict[str, Any]] = {
    "happy": {},
    **{f"fail at {step}": {step: {"mode": "permanent"}} for step in STEPS},
}


def measure(stack: EmbeddedStack, request: dict[str, Any], faults: dict[str, Any], speed: bool) -> float:
    SPEED.enabled = speed
    try:
        started = time.perf_counter()
        described = stack.run(request, faults=faults)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        SPEED.enabled = SPEED.default
    if faults:
        assert described["status"] == "FAILED" and described.get("error") == "SagaRolledBack", described
    else:
        assert described["status"] == "SUCCEEDED", described
    return elapsed


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def measure_paths(stack: EmbeddedStack, request: dict[str, Any], names: list[str], runs: int) -> list[dict]:
    rows = []
    for name in names:
        faults = PATHS[name]
        measure(stack, request, faults, True)  # warm both variants: first parse, first clients
        measure(stack, request, faults, False)
        fast, stock = [], []
        for _ in range(runs):
            fast.append(measure(stack, request, faults, True))
            stock.append(measure(stack, request, faults, False))
        rows.append(
            {
                "path": name,
                "embedded_ms": statistics.median(fast),
                "embedded_p95_ms": p95(fast),
                "stock_ms": statistics.median(stock),
                "stock_p95_ms": p95(stock),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| path | embedded (ms, median / p95) | stock moto (ms, median / p95) | speed-up (median) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['embedded_ms']:.0f} / {r['embedded_p95_ms']:.0f} "
            f"| {r['stock_ms']:.0f} / {r['stock_p95_ms']:.0f} | {r['stock_ms'] / r['embedded_ms']:.1f}x |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4))
    positions = range(len(rows))
    width = 0.4
    axes.bar([p - width / 2 for p in positions], [r["embedded_ms"] for r in rows], width, label="embedded")
    axes.bar([p + width / 2 for p in positions], [r["stock_ms"] for r in rows], width, label="stock moto")
    for p, r in zip(positions, rows, strict=True):
        ratio = f"{r['stock_ms'] / r['embedded_ms']:.1f}x"
        axes.annotate(ratio, (p + width / 2, r["stock_ms"]), ha="center", va="bottom")
    axes.set_xticks(list(positions), [r["path"].replace("fail at ", "fail at\n") for r in rows])
    axes.set(ylabel="median latency (ms)", title="The 6-step saga, per path (ratio over the bars)")
    axes.margins(y=0.12)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--paths", default="", help="comma-separated: happy, or step names (default: all)")
    parser.add_argument("--png", default="", help="also draw the table as a bar chart here")
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
    names = [n for n in PATHS if not wanted or n in wanted or n.removeprefix("fail at ") in wanted]
    warnings.simplefilter("ignore")
    with DemoSite() as site, EmbeddedStack() as stack:
        request = demo_request(site.url)
        rows = measure_paths(stack, request, names, args.runs)
    print(table(rows))
    if args.png:
        plot(rows, Path(args.png))
        print(f"\nplot: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
