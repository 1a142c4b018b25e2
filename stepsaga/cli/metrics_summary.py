"""Summarise the metrics of local runs from their EMF lines: success rate, p95 StepDuration
per step, compensation rate.

    python -m stepsaga.cli.metrics_summary handler-logs.txt     # EMF JSON lines (others skipped)
    some-command | python -m stepsaga.cli.metrics_summary -    # the same from stdin
    python -m stepsaga.cli.metrics_summary --run 20            # run 20 sagas on the embedded stack

Handlers print one CloudWatch Embedded Metric Format document per metric on stdout, but only
with ``POWERTOOLS_METRICS_DISABLED=false`` (the embedded stack disables metrics by default).
``--run N`` deploys the embedded stack with metrics enabled, delivers execution status changes
to the saga-events handler (``stepsaga.embedded.events``), runs N sagas on the demo site (every
``--fault-every``-th with a permanent failure at Execution, so it rolls back), captures stdout
itself and summarises it. Sagas are counted from the saga-events metrics (SagasSucceeded,
SagasRolledBack, SagasCompensationFailed, SagasFailed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from functions.common.names import (
    METRIC_COMPENSATION_EXECUTED,
    METRIC_SAGA_OUTCOMES,
    METRIC_SAGAS_COMPENSATION_FAILED,
    METRIC_SAGAS_FAILED,
    METRIC_SAGAS_ROLLED_BACK,
    METRIC_SAGAS_STARTED,
    METRIC_SAGAS_SUCCEEDED,
    METRIC_STEP_DURATION,
    METRIC_STEP_FAILED,
)


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    unit: str
    dimensions: tuple[tuple[str, str], ...]

    def dimension(self, key: str) -> str | None:
        return dict(self.dimensions).get(key)


def _document(line: str) -> dict[str, Any] | None:
    """The JSON document on a line, if it is an EMF one (a log prefix before the ``{`` is allowed)."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        document = json.loads(line[start:])
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document


def parse(lines: Iterable[str]) -> Iterator[Sample]:
    """Every metric value in the EMF documents among ``lines`` (other lines are skipped)."""
    for line in lines:
        document = _document(line)
        if document is None:
            continue
        for directive in document["_aws"].get("CloudWatchMetrics") or []:
            keys = sorted({key for group in directive.get("Dimensions") or [] for key in group})
            dimensions = tuple((key, str(document[key])) for key in keys if key in document)
            for definition in directive.get("Metrics") or []:
                name = definition.get("Name")
                raw = document.get(name)
                values = raw if isinstance(raw, list) else [raw]
                for value in values:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        yield Sample(name, float(value), str(definition.get("Unit", "None")), dimensions)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as CloudWatch's pNN of raw values): q in (0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_by_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    step_durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    step_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    compensations: Counter[str] = field(default_factory=Counter)
    started: int = 0

    @property
    def finished(self) -> int:
        return sum(self.outcomes[o] for o in METRIC_SAGA_OUTCOMES)

    @property
    def success_rate(self) -> float | None:
        return self.outcomes[METRIC_SAGAS_SUCCEEDED] / self.finished if self.finished else None

    @property
    def compensation_rate(self) -> float | None:
        if not self.finished:
            return None
        undone = self.outcomes[METRIC_SAGAS_ROLLED_BACK] + self.outcomes[METRIC_SAGAS_COMPENSATION_FAILED]
        return undone / self.finished

    def p95(self) -> dict[str, float]:
        return {step: percentile(values, 95) for step, values in sorted(self.step_durations.items())}


def summarise(samples: Iterable[Sample]) -> Summary:
    summary = Summary()
    for sample in samples:
        if sample.name in METRIC_SAGA_OUTCOMES:
            summary.outcomes[sample.name] += int(sample.value)
            summary.outcomes_by_type[sample.dimension("saga_type") or "?"][sample.name] += int(sample.value)
        elif sample.name == METRIC_SAGAS_STARTED:
            summary.started += int(sample.value)
        elif sample.name == METRIC_STEP_DURATION:
            summary.step_durations[sample.dimension("step") or "?"].append(sample.value)
        elif sample.name == METRIC_STEP_FAILED:
            key = (sample.dimension("step") or "?", sample.dimension("error") or "?")
            summary.step_failures[key] += int(sample.value)
        elif sample.name == METRIC_COMPENSATION_EXECUTED:
            summary.compensations[sample.dimension("step") or sample.dimension("service") or "?"] += int(
                sample.value
            )
    return summary


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render(summary: Summary) -> str:
    lines = [
        f"sagas finished: {summary.finished} (started {summary.started})",
        f"success rate: {_rate(summary.success_rate)}",
        f"compensation rate: {_rate(summary.compensation_rate)}"
        f" (rolled back {summary.outcomes[METRIC_SAGAS_ROLLED_BACK]},"
        f" compensation failed {summary.outcomes[METRIC_SAGAS_COMPENSATION_FAILED]},"
        f" other failures {summary.outcomes[METRIC_SAGAS_FAILED]})",
    ]
    if len(summary.outcomes_by_type) > 1:
        for saga_type, counts in sorted(summary.outcomes_by_type.items()):
            finished = sum(counts[o] for o in METRIC_SAGA_OUTCOMES)
            rate = counts[METRIC_SAGAS_SUCCEEDED] / finished if finished else None
            lines.append(f"  {saga_type}: {finished} finished, success {_rate(rate)}")
    lines.append("p95 StepDuration per step (ms):")
    p95 = summary.p95()
    if not p95:
        lines.append("  (no StepDuration metrics: were metrics enabled? POWERTOOLS_METRICS_DISABLED=false)")
    width = max((len(step) for step in p95), default=0)
    for step, value in p95.items():
        count = len(summary.step_durations[step])
        lines.append(f"  {step.ljust(width)}  {value:10.1f}   (n={count})")
    if summary.step_failures:
        lines.append("step failures (step, error): count")
        for (step, error), count in sorted(summary.step_failures.items()):
            lines.append(f"  {step}, {error}: {count}")
    return "\n".join(lines)


def as_json(summary: Summary) -> dict[str, Any]:
    return {
        "finished": summary.finished,
        "started": summary.started,
        "outcomes": dict(summary.outcomes),
        "success_rate": summary.success_rate,
        "compensation_rate": summary.compensation_rate,
        "p95_step_duration_ms": summary.p95(),
        "step_failures": {f"{s}/{e}": n for (s, e), n in sorted(summary.step_failures.items())},
    }


# -- --run: produce the lines -------------------------------------------------------------------
class _Capture(io.TextIOBase):
    """A thread-safe stdout stand-in that keeps every line (handlers print from many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = io.StringIO()

    def write(self, text: str) -> int:
        with self._lock:
            return self._buffer.write(text)

    def lines(self) -> list[str]:
        with self._lock:
            return self._buffer.getvalue().splitlines()


def run_sagas(count: int, fault_every: int, log: TextIO) -> list[str]:
    """Run ``count`` sagas on the embedded stack with metrics on; the lines they printed."""
    from stepsaga.cli.demo_site import DemoSite, demo_request
    from stepsaga.embedded import EmbeddedStack, events

    capture = _Capture()
    with (
        DemoSite() as site,
        EmbeddedStack(runtime_env={"POWERTOOLS_METRICS_DISABLED": "false"}) as stack,
    ):
        listener = events.install(stack)
        try:
            request = demo_request(site.url)
            with contextlib.redirect_stdout(capture):
                for index in range(count):
                    failing = fault_every > 0 and (index + 1) % fault_every == 0
                    faults = {"Execution": {"mode": "permanent"}} if failing else None
                    described = stack.run(request, faults)
                    print(f"saga {index + 1}/{count}: {described['status']}", file=log)
        finally:
            events.uninstall(listener)
    return capture.lines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepsaga.cli.metrics_summary", description=__doc__)
    parser.add_argument("file", nargs="?", help="a file of EMF JSON lines, or - for stdin")
    parser.add_argument("--run", type=int, metavar="N", help="run N sagas on the embedded stack first")
    parser.add_argument(
        "--fault-every",
        type=int,
        default=3,
        metavar="K",
        help="with --run: every K-th saga fails for good at Execution and rolls back (0: none; default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if (args.run is None) == (args.file is None):
        parser.error("give a FILE (or -) or --run N")
    if args.run is not None:
        if args.run < 1:
            parser.error("--run needs N >= 1")
        lines = run_sagas(args.run, args.fault_every, sys.stderr)
    elif args.file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        with open(args.file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    summary = summarise(parse(lines))
    print(json.dumps(as_json(summary), indent=2) if args.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
