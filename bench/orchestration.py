"""Orchestration cost on the embedded stack, side by side with stock moto (no speed adaptations).

    python -m bench.orchestration [--runs 10] [--concurrency 1,10,50,200] [--png docs/orchestration.png]

1. Latency of generated sagas of 3, 6, 12, 25 and 50 steps: every step runs the same small
   agent (Observation), so the figure is what each extra step costs the orchestration.
2. Throughput at several concurrency levels: sagas per second, and wrong results (a saga
   that did not succeed, or whose data is not what it wrote).

Both variants run interleaved in one process against one deployed stack; the ratio is the
figure to read (timings on shared machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from statemachines.saga import RetryPolicy, Saga, Step, compile_saga
from stepsaga.cli.demo_site import STORIES, DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches.speed import SPEED

STEP_COUNTS = (3, 6, 12, 25, 50)


def generated_saga(steps: int) -> Saga:
    return Saga(
        name=f"generated-{steps}",
        comment=f"{steps} steps of the same agent",
        steps=tuple(
            Step(
                name=f"Step{i:02d}",
                handler="functions.handlers.observation.handler",
                timeout_seconds=60,
                retry=RetryPolicy(2, 1),
                owns=("reports",),
                reads=("runs",),
            )
            for i in range(steps)
        ),
    )


def deploy_generated(stack: EmbeddedStack, steps: int) -> str:
    """Create a generated saga's state machine on the running stack (same agent function)."""
    lam = stack.client("lambda")
    [observation] = [
        f["FunctionArn"]
        for f in lam.list_functions()["Functions"]
        if "ObservationFunction" in f["FunctionName"]
    ]
    text = json.dumps(compile_saga(generated_saga(steps)))
    for placeholder in {p for p in text.split("${")[1:]}:
        key = placeholder.split("}")[0]
        text = text.replace("${" + key + "}", observation)
    response = stack.client("stepfunctions").create_state_machine(
        name=f"bench-generated-{steps}-{uuid.uuid4().hex[:6]}",
        definition=text,
        roleArn="arn:aws:iam::123456789012:role/bench",
    )
    return str(response["stateMachineArn"])


def run_one(stack: EmbeddedStack, machine_arn: str, request: dict[str, Any]) -> float:
    started = time.perf_counter()
    arn = stack.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=f"b-{uuid.uuid4().hex[:12]}", input=json.dumps({"request": request})
    )["executionArn"]
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    return (time.perf_counter() - started) * 1000


def latency_by_steps(stack: EmbeddedStack, request: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    rows = []
    for steps in STEP_COUNTS:
        arn = deploy_generated(stack, steps)
        for speed in (True, False):  # warm both
            SPEED.enabled = speed
            run_one(stack, arn, request)
        fast, stock = [], []
        for _ in range(runs):
            SPEED.enabled = True
            fast.append(run_one(stack, arn, request))
            SPEED.enabled = False
            stock.append(run_one(stack, arn, request))
        SPEED.enabled = SPEED.default
        rows.append(
            {"steps": steps, "embedded_ms": statistics.median(fast), "stock_ms": statistics.median(stock)}
        )
    return rows


def throughput(
    stack: EmbeddedStack, request: dict[str, Any], concurrency: int, speed: bool
) -> dict[str, Any]:
    SPEED.enabled = speed
    sfn = stack.client("stepfunctions")
    started = time.perf_counter()
    names = [f"tp-{uuid.uuid4().hex[:12]}" for _ in range(concurrency)]
    arns = [
        sfn.start_execution(
            stateMachineArn=stack.machine_arn(), name=n, input=json.dumps({"request": request})
        )["executionArn"]
        for n in names
    ]
    outcomes = [stack.wait(arn, timeout=900)["status"] for arn in arns]
    elapsed = time.perf_counter() - started
    wrong = sum(status != "SUCCEEDED" for status in outcomes)
    wrong += sum(len(stack.items("scenarios", n)) != len(STORIES) for n in names)
    SPEED.enabled = SPEED.default
    return {"concurrency": concurrency, "speed": speed, "sagas_per_s": concurrency / elapsed, "wrong": wrong}


def plot(rows: list[dict[str, Any]], tput: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["steps"] for r in rows]
    left.plot(steps, [r["embedded_ms"] for r in rows], "o-", label="embedded (speed adaptations)")
    left.plot(steps, [r["stock_ms"] for r in rows], "s--", label="stock moto")
    left.set(xlabel="steps in the saga", ylabel="median latency (ms)", title="Latency by saga length")
    left.legend()
    for speed, style, label in ((True, "o-", "embedded"), (False, "s--", "stock moto")):
        points = [t for t in tput if t["speed"] is speed]
        right.plot([t["concurrency"] for t in points], [t["sagas_per_s"] for t in points], style, label=label)
    right.set(
        xlabel="concurrent sagas", ylabel="sagas per second", title="Throughput (6-step saga)", xscale="log"
    )
    right.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrency", default="1,10,50,200")
    parser.add_argument("--png", default="docs/orchestration.png")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    with DemoSite() as site, EmbeddedStack() as stack:
        request = demo_request(site.url)
        rows = latency_by_steps(stack, request, args.runs)
        print("| steps | embedded (ms, median) | stock moto (ms, median) | speed-up |")
        print("|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['steps']} | {r['embedded_ms']:.0f} | {r['stock_ms']:.0f} "
                f"| {r['stock_ms'] / r['embedded_ms']:.1f}x |"
            )
        for speed in (True, False):  # warm both on the real saga: its first parse, first clients
            throughput(stack, request, 1, speed)
        tput = []
        for level in (int(c) for c in args.concurrency.split(",")):
            for speed in (True, False):
                tput.append(throughput(stack, request, level, speed))
        print("\n| concurrent sagas | embedded (sagas/s) | stock moto (sagas/s) | wrong results |")
        print("|---|---|---|---|")
        for fast, stock in zip(tput[::2], tput[1::2], strict=True):
            print(
                f"| {fast['concurrency']} | {fast['sagas_per_s']:.1f} | {stock['sagas_per_s']:.1f} "
                f"| {fast['wrong'] + stock['wrong']} |"
            )
        plot(rows, tput, Path(args.png))
        print(f"\nplot: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
