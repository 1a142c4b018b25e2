"""Where a happy saga's CPU goes, by layer: botocore's client side, moto's request handling, the
Step Functions interpreter, the handlers' own code, moto's DynamoDB backend and validation.

    python -m bench.where [--sagas 150] [--rate 250] [--top 20]

A child process deploys the embedded stack and runs 5 warm-up sagas; then ``py-spy`` (the
``bench`` extra) attaches to it and samples the thread holding the GIL ``--rate`` times a
second while it runs ``--sagas`` happy sagas one after another. Each sample is charged to the
innermost frame on its stack that belongs to a layer (``LAYERS``, first match from the leaf
up), so a DynamoDB call made by a handler counts as botocore's or moto's, not the handler's.
Prints each layer's share of the samples and the functions that were sampled most often.
py-spy needs to be allowed to read the child's memory (ptrace; root here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# (a substring of a frame as py-spy names it, the layer), checked from the leaf up.
LAYERS: tuple[tuple[str, str], ...] = (
    ("UpdateExpressionValidator.__init__", "moto: DynamoDB update validation"),
    ("Validator.validate (moto", "moto: DynamoDB update validation"),
    ("install_update_validation_walks.<locals>.validate", "moto: DynamoDB update validation"),
    ("install_new_items_validated_once.<locals>.validate", "moto: DynamoDB update validation"),
    ("install_transactions.<locals>", "moto: DynamoDB backend"),
    ("DynamoDBBackend.", "moto: DynamoDB backend"),
    ("S3Backend.", "moto: S3 backend"),
    ("install_programs_parsed_once.<locals>.entrypoint", "moto: Step Functions program copy"),
    ("BotocoreStubber.__call__", "moto: request handling"),
    ("BaseClient._make_api_call", "botocore: client side"),
    ("Session.client", "botocore: client creation"),
    ("moto/stepfunctions", "moto: Step Functions interpreter"),
    ("stepsaga/embedded/patches/stepfunctions", "moto: Step Functions interpreter"),
    ("(functions/", "handlers and domain code"),
    ("aws_lambda_powertools", "Powertools"),
)
SKIP = ("_find_and_load", "EmbeddedStack.__enter__")  # imports and the deploy, not a saga's


def layer_of(frames: list[str]) -> str:
    """The layer of one sampled stack (outermost frame first), or ``other`` (its leaf)."""
    for frame in reversed(frames):
        for marker, layer in LAYERS:
            if marker in frame:
                return layer
    return f"other: {frames[-1].split(' (')[0] if frames and frames[-1] else '(no Python frame)'}"


def tally(lines: Iterable[str]) -> tuple[Counter[str], Counter[str], int]:
    """Samples per layer and per leaf function, from py-spy's raw format (``a;b;c count``)."""
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(skip in frame for frame in frames for skip in SKIP):
            continue
        samples = int(count)
        total += samples
        layers[layer_of(frames)] += samples
        leaves[frames[-1]] += samples
    return layers, leaves, total


def report(layers: Counter[str], leaves: Counter[str], total: int, top: int) -> str:
    rows = ["| layer | share of samples |", "|---|---:|"]
    small = 0
    for layer, n in layers.most_common():
        if layer.startswith("other: ") and n < total / 200:
            small += n
        else:
            rows.append(f"| {layer} | {100 * n / total:.1f} % |")
    rows.append(f"| other functions, each under 0.5 % | {100 * small / total:.1f} % |")
    rows += ["", f"The {top} functions sampled most often (the leaf of the stack):", ""]
    rows += [f"{100 * n / total:5.1f} %  {leaf}" for leaf, n in leaves.most_common(top)]
    return "\n".join(rows) + f"\n\n{total} samples."


def _run_sagas(sagas: int) -> None:
    """The child: deploy, warm up, say ready, wait for the go, run the sagas."""
    from stepsaga.cli.demo_site import DemoSite, demo_request
    from stepsaga.embedded import EmbeddedStack

    with DemoSite() as site, EmbeddedStack() as stack:
        request = demo_request(site.url)
        for _ in range(5):
            stack.run(request)
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(sagas):
            described = stack.run(request)
            if described["status"] != "SUCCEEDED":
                raise SystemExit(f"a happy saga ended {described['status']}: {described}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sagas", type=int, default=150)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_sagas(args.sagas)
        return 0
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("bench.where needs py-spy: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.where", "--child", "--sagas", str(args.sagas)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        child.kill()
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        record = ["record", "--gil", "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
        sampler = subprocess.Popen(
            [spy, *record, "--pid", str(child.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        child.stdin.write("go\n")
        child.stdin.flush()
        status = child.wait()
        sampler.wait(timeout=60)
        if status != 0 or not raw.exists():
            print(f"the sagas or the sampler failed (child exit {status})", file=sys.stderr)
            return 1
        layers, leaves, total = tally(raw.read_text(errors="replace").splitlines())
    print(f"{args.sagas} happy sagas, py-spy --gil at {args.rate} Hz\n")
    print(report(layers, leaves, total, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
