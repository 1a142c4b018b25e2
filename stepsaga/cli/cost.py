"""``stepsaga cost``: dollars and transitions per saga path, from the compiled ASL.

stepsaga cost [--saga test-generation] [--duration-ms 100] [--memory-mb 256]
              [--state-duration-ms Execution=60000 ...] [--express-memory-mb 64]
              [--map-items 10] [--json | --markdown] [--check]

Every service a path pays for (DynamoDB, S3, SQS, logs, X-Ray), from the calls the embedded
stack made for it: ``python -m bench.cost_measured``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from statemachines.catalogue import PARENTS, SAGAS, TEST_GENERATION, machines
from statemachines.tools.cost import Assumptions, Report, price, price_saga, render_markdown, render_text


def _state_duration(text: str) -> tuple[str, float]:
    state, sep, value = text.partition("=")
    if not sep or not state:
        raise argparse.ArgumentTypeError(f"expected STATE=MS, got {text!r}")
    try:
        return state, float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of milliseconds") from error


def _report(name: str, assume: Assumptions) -> Report:
    if name in SAGAS:
        return price_saga(SAGAS[name], assume)
    # A parent has no public-sample design to compare with; its children run as sagas of their own.
    return price(machines()[name](), name=name, assume=assume)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stepsaga cost", description="Cost per saga path, from the compiled ASL."
    )
    parser.add_argument(
        "--saga",
        default=TEST_GENERATION.name,
        choices=sorted({*SAGAS, *PARENTS}),
        help="a saga, or a parent (its own transitions; each child saga is priced under its name)",
    )
    parser.add_argument("--duration-ms", type=float, default=100.0, help="average Lambda duration (100)")
    parser.add_argument("--memory-mb", type=int, default=256, help="Lambda memory (256, as deployed)")
    parser.add_argument(
        "--state-duration-ms",
        type=_state_duration,
        action="append",
        default=[],
        metavar="STATE=MS",
        help="a state's own Lambda duration, e.g. Execution=60000 (repeatable)",
    )
    parser.add_argument("--express-memory-mb", type=int, default=64, help="Express billed memory (64)")
    parser.add_argument("--map-items", type=int, default=10, help="iterations per Map state (10)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--markdown", action="store_true", help="markdown tables, for docs")
    parser.add_argument("--check", action="store_true", help="exit 1 if a transition target is missed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    assume = Assumptions(
        duration_ms=args.duration_ms,
        memory_mb=args.memory_mb,
        express_memory_mb=args.express_memory_mb,
        state_duration_ms=dict(args.state_duration_ms),
        map_items=args.map_items,
    )
    report = _report(args.saga, assume)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    elif args.markdown:
        print(render_markdown(report), end="")
    else:
        print(render_text(report), end="")
    if args.check and not report.as_dict()["targets_met"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
