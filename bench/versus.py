"""stepsaga against the saga a user would otherwise write: an AWS Lambda durable function.

    python -m bench.versus [--runs 30] [--concurrency 50] [--rounds 5] [--json] [--quick] [--png F]

Needs the peer extra (``pip install -e '.[peer]'``). One process runs three sides against
one moto: stepsaga on the embedded stack (speed adaptations on), the same saga written as a
durable function on the SDK's local runner (``bench.peer_durable``), and stepsaga on stock
moto (speed adaptations off). They run interleaved (A B C A B C ...), so machine noise hits
them alike; on a shared machine read the ratios, not the milliseconds. Figures:

- latency, median of ``--runs`` runs per path after one warm-up run of each side: the happy
  path, a permanent failure at Execution (rolled back), Generation failing twice with a
  retryable error then succeeding (the backoff waits skipped on both sides);
- CPU per happy saga: ``time.process_time()`` around each happy run (the whole process:
  moto, the orchestrator and the agents);
- throughput: ``--rounds`` rounds of ``--concurrency`` sagas started at once, sagas per
  second (median round);
- AWS API calls per happy saga, by service and operation (``bench.calls``).

Every saga's outcome and data are checked (scenarios, tests, runs, reports and artifacts
for a success; scenarios deleted, tests INVALID, artifacts gone for a rollback); a wrong
result is counted and reported, never timed away.

What differs between the sides (everything else is the same code: the agents, the
repositories, the retry policies, the faults, the demo site):

- stepsaga is a Step Functions state machine: each step is its own Lambda, invoked by
  Step Functions; the durable function is one Lambda whose steps are checkpointed
  ``context.step`` calls, replayed from its checkpoints after each retry's suspension;
- stepsaga writes what the durable function does not: an audit record per attempt and the
  saga's start and end events (the audit table), the saga's record (the sagas table, which
  Execution reads the saga's priority from), and Execution's idempotency record (an
  asynchronous callback task may be delivered twice); the durable runner keeps its
  checkpoints in memory, where AWS would store them as CheckpointDurableExecution calls
  (counted here as such);
- Execution is a callback task in stepsaga (``.waitForTaskToken``, heartbeats and the
  report through SendTaskSuccess/Failure); in the durable function it is a plain step;
- a compensation that still fails after its retries goes to a dead-letter queue in
  stepsaga; the durable function just fails;
- the peer's data calls go through the same in-process moto, with the embedded stack's
  speed adaptations on (they patch moto and botocore, so they help both sides alike).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from bench.calls import CallCounter
from bench.latency import p95
from functions.agents.generation import generate_tests
from functions.agents.requirements import derive_scenarios
from functions.common.models import SagaRequest
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches.speed import SPEED

PATHS: dict[str, dict[str, Any]] = {
    "happy": {},
    "failed at Execution, rolled back": {"Execution": {"mode": "permanent"}},
    "Generation fails twice, then succeeds": {"Generation": {"mode": "transient", "times": 2}},
}
SIDES = ("stepsaga", "durable", "stock")
LABELS = {"stepsaga": "stepsaga embedded", "durable": "durable runner", "stock": "stock moto"}


class Data(Protocol):
    def items(self, kind: str, saga_id: str) -> list[dict[str, Any]]: ...
    def artifact_keys(self, saga_id: str) -> list[str]: ...


def expected(request: dict[str, Any]) -> dict[str, int]:
    """How many scenarios and tests the request makes (computed by the agents' own functions)."""
    scenarios = derive_scenarios(SagaRequest.model_validate(request), "any")
    return {"scenarios": len(scenarios), "tests": len(generate_tests(scenarios, str(request["target_url"])))}


def wrong(
    data: Data, saga_id: str, status: str, error: str | None, faults: dict[str, Any], want: dict[str, int]
) -> str:
    """Why this saga's outcome or data is wrong ("" when right)."""
    tests = data.items("tests", saga_id)
    artifacts = data.artifact_keys(saga_id)
    if faults.get("Execution", {}).get("mode") == "permanent":
        if (status, error) != ("FAILED", "SagaRolledBack"):
            return f"expected a rollback, got {status} {error}"
        if data.items("scenarios", saga_id) or artifacts:
            return "the rollback left scenarios or artifacts"
        if len(tests) != want["tests"] or {t.get("status") for t in tests} != {"INVALID"}:
            return "the rollback did not mark every test INVALID"
        return ""
    if status != "SUCCEEDED":
        return f"expected success, got {status} {error}"
    counts = {
        "scenarios": len(data.items("scenarios", saga_id)),
        "tests": len(tests),
        "runs": len(data.items("runs", saga_id)),
        "reports": len(data.items("reports", saga_id)),
        "artifacts": len(artifacts),
    }
    wanted = {**want, "runs": want["tests"], "reports": 3, "artifacts": want["tests"]}
    return "" if counts == wanted else f"data {counts}, expected {wanted}"


@contextmanager
def speed_for(side: str) -> Iterator[None]:
    """stepsaga's speed adaptations off for the stock-moto side only (the switch is global)."""
    SPEED.enabled = side != "stock"
    try:
        yield
    finally:
        SPEED.enabled = SPEED.default


class Sides:
    """Start and wait for a saga on each side, by the same two calls."""

    def __init__(self, stack: EmbeddedStack, peer: Any, request: dict[str, Any]) -> None:
        self.stack, self.peer, self.request = stack, peer, request
        self.want = expected(request)

    def start(self, side: str, faults: dict[str, Any]) -> tuple[str, str]:
        saga_id = f"vs-{side[:2]}-{uuid.uuid4().hex[:12]}"
        if side == "durable":
            return saga_id, self.peer.start(self.request, faults, saga_id)
        return saga_id, self.stack.start(self.request, faults, name=saga_id)

    def wait(self, side: str, handle: str) -> tuple[str, str | None]:
        if side == "durable":
            outcome = self.peer.wait(handle)
            return outcome.status, outcome.error
        described = self.stack.wait(handle, timeout=900)
        return str(described["status"]), described.get("error")

    def check(self, side: str, saga_id: str, outcome: tuple[str, str | None], faults: dict[str, Any]) -> str:
        data: Data = self.peer if side == "durable" else self.stack
        return wrong(data, saga_id, *outcome, faults, self.want)

    def timed(self, side: str, faults: dict[str, Any]) -> tuple[float, float, str]:
        """Wall and CPU milliseconds of one saga, and what was wrong with it."""
        with speed_for(side):
            wall, cpu = time.perf_counter(), time.process_time()
            saga_id, handle = self.start(side, faults)
            outcome = self.wait(side, handle)
            wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        return wall, cpu, self.check(side, saga_id, outcome, faults)


def latency(sides: Sides, runs: int, problems: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    found: dict[str, dict[str, dict[str, float]]] = {}
    for path, faults in PATHS.items():
        for side in SIDES:  # warm-up: first parse, first clients, first imports
            sides.timed(side, faults)
        wall: dict[str, list[float]] = {s: [] for s in SIDES}
        cpu: dict[str, list[float]] = {s: [] for s in SIDES}
        for _ in range(runs):
            for side in SIDES:
                ms, cpu_ms, problem = sides.timed(side, faults)
                wall[side].append(ms)
                cpu[side].append(cpu_ms)
                if problem:
                    problems.append(f"{side}, {path}: {problem}")
        found[path] = {
            side: {
                "median_ms": statistics.median(wall[side]),
                "p95_ms": p95(wall[side]),
                "cpu_ms": statistics.median(cpu[side]),
            }
            for side in SIDES
        }
    return found


def throughput(sides: Sides, concurrency: int, rounds: int, problems: list[str]) -> dict[str, float]:
    rates: dict[str, list[float]] = {s: [] for s in SIDES}
    for _ in range(rounds):
        for side in SIDES:
            with speed_for(side):  # for the whole round: the sagas run while this thread waits
                started = time.perf_counter()
                handles = [sides.start(side, {}) for _ in range(concurrency)]
                outcomes = [sides.wait(side, handle) for _saga_id, handle in handles]
                rates[side].append(concurrency / (time.perf_counter() - started))
            for (saga_id, _handle), outcome in zip(handles, outcomes, strict=True):
                problem = sides.check(side, saga_id, outcome, {})
                if problem:
                    problems.append(f"{side}, {concurrency} concurrent: {problem}")
    return {side: statistics.median(rates[side]) for side in SIDES}


def api_calls(sides: Sides, counter: CallCounter, problems: list[str]) -> dict[str, dict[str, int]]:
    found = {}
    for side in SIDES:
        with counter.counting() as calls:
            _ms, _cpu, problem = sides.timed(side, {})
        if problem:
            problems.append(f"{side}, counted run: {problem}")
        found[side] = {f"{service}.{operation}": n for (service, operation), n in sorted(calls.items())}
    return found


def _ratio(stepsaga: float, durable: float, lower_is_better: bool = True) -> str:
    advantage = durable / stepsaga if lower_is_better else stepsaga / durable
    return f"{advantage:.2f}x"


def table(report: dict[str, Any]) -> str:
    lat, tput, calls = report["latency"], report["throughput"], report["api_calls"]
    lines = [
        "| figure | stepsaga embedded | durable runner | stock moto | stepsaga's advantage over durable |",
        "|---|---|---|---|---|",
    ]
    for path, row in lat.items():
        cells = " | ".join(f"{row[s]['median_ms']:.0f} ms" for s in SIDES)
        advantage = _ratio(row["stepsaga"]["median_ms"], row["durable"]["median_ms"])
        lines.append(f"| {path}, median | {cells} | {advantage} |")
    happy = lat["happy"]
    cells = " | ".join(f"{happy[s]['cpu_ms']:.0f} ms" for s in SIDES)
    advantage = _ratio(happy["stepsaga"]["cpu_ms"], happy["durable"]["cpu_ms"])
    lines.append(f"| CPU per happy saga | {cells} | {advantage} |")
    cells = " | ".join(f"{tput[s]:.2f} sagas/s" for s in SIDES)
    lines.append(
        f"| {report['concurrency']} concurrent sagas, median of {report['rounds']} rounds | {cells} "
        f"| {_ratio(tput['stepsaga'], tput['durable'], lower_is_better=False)} |"
    )
    totals = {s: sum(calls[s].values()) for s in SIDES}
    cells = " | ".join(f"{totals[s]} ({_services(calls[s])})" for s in SIDES)
    lines.append(
        f"| AWS API calls per happy saga | {cells} | {_ratio(totals['stepsaga'], totals['durable'])} |"
    )
    lines.append("")
    lines.append(
        "Advantage: durable ÷ stepsaga for times and calls, stepsaga ÷ durable for throughput (>1: stepsaga"
    )
    lines.append(f"better). Runs per path: {report['runs']}. Wrong results: {len(report['problems'])}.")
    for problem in report["problems"][:20]:
        lines.append(f"  wrong: {problem}")
    lines.append("")
    lines.append("AWS API calls per happy saga, by operation:")
    operations = sorted({op for s in SIDES for op in calls[s]})
    lines.append("| operation | " + " | ".join(LABELS[s] for s in SIDES) + " |")
    lines.append("|---|" + "---|" * len(SIDES))
    for op in operations:
        lines.append(f"| {op} | " + " | ".join(str(calls[s].get(op, 0)) for s in SIDES) + " |")
    return "\n".join(lines)


def _services(calls: dict[str, int]) -> str:
    """``{"dynamodb.Query": 9, ...}`` as ``37 dynamodb, 7 s3, ...`` (most first)."""
    totals: Counter[str] = Counter()
    for operation, count in calls.items():
        totals[operation.split(".", 1)[0]] += count
    return ", ".join(f"{n} {service}" for service, n in totals.most_common())


def run(runs: int, concurrency: int, rounds: int, progress: Callable[[str], None] = print) -> dict[str, Any]:
    from bench.peer_durable import PeerSaga

    warnings.simplefilter("ignore")
    counter = CallCounter()
    problems: list[str] = []
    with DemoSite() as site, EmbeddedStack() as stack, PeerSaga(mock=False) as peer:
        sides = Sides(stack, peer, demo_request(site.url))
        counter.install()
        try:
            progress(f"latency: {len(PATHS)} paths x {runs} runs x {len(SIDES)} sides, interleaved")
            lat = latency(sides, runs, problems)
            progress(f"throughput: {rounds} rounds of {concurrency} concurrent sagas per side")
            tput = throughput(sides, concurrency, rounds, problems)
            progress("API calls per happy saga")
            calls = api_calls(sides, counter, problems)
        finally:
            counter.uninstall()
    return {
        "runs": runs,
        "concurrency": concurrency,
        "rounds": rounds,
        "latency": lat,
        "throughput": tput,
        "api_calls": calls,
        "problems": problems,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency per path (median bar, p95 whisker) and throughput, one colour per side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat, tput = report["latency"], report["throughput"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(SIDES)
    for index, side in enumerate(SIDES):
        positions = [p + (index - (len(SIDES) - 1) / 2) * width for p in range(len(lat))]
        medians = [row[side]["median_ms"] for row in lat.values()]
        spread = [[0] * len(lat), [row[side]["p95_ms"] - row[side]["median_ms"] for row in lat.values()]]
        left.bar(positions, medians, width, yerr=spread, capsize=3, label=LABELS[side])
    left.set_xticks(list(range(len(lat))), [name.replace(", ", ",\n") for name in lat])
    left.set(ylabel="ms per saga (median, p95 whisker)", title=f"Latency, {report['runs']} runs per path")
    left.legend()
    right.bar(
        [LABELS[s].replace(" ", "\n") for s in SIDES], [tput[s] for s in SIDES], color=["C0", "C1", "C2"]
    )
    right.set(ylabel="sagas per second", title=f"{report['concurrency']} concurrent sagas")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="runs per path and side, after one warm-up")
    parser.add_argument("--concurrency", type=int, default=50, help="sagas started at once per round")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds per side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 runs, 1 round of 5 sagas")
    parser.add_argument("--png", type=Path, help="also plot latency and throughput to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.concurrency, args.rounds = 3, 5, 1
    quiet = args.json
    report = run(args.runs, args.concurrency, args.rounds, progress=(lambda _m: None) if quiet else print)
    print(json.dumps(report, indent=2) if args.json else "\n" + table(report))
    if args.png:
        plot(report, args.png)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
