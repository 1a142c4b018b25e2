"""Cold start of every Lambda handler: import + initialisation in a fresh interpreter.

    python -m bench.coldstart [--runs 5] [--only requirements,execution] [--top 5] [--json]

For each module in ``functions/handlers`` (except ``base`` and ``__init__``) this runs

    python -X importtime -c "import functions.handlers.<name>"

(with ``time.process_time()`` read around the import, to report its CPU time as well)
``--runs`` times in a subprocess with the environment Lambda gives the function (Lambda's
own variables, the stack's Powertools and table variables), in two variants: tracing on as
deployed (``POWERTOOLS_TRACE_DISABLED`` unset) and tracing off (``=true``). The import time
is the cumulative time of the top-level ``functions*`` imports, parsed from ``-X importtime``
on stderr; the figure reported is the median (and the minimum). Module-level initialisation
(Logger, pydantic models, settings) runs during the import, so it is included. Wall time
suffers when the machine is busy; the CPU time of the import barely does, so it is shown too.

``functions/common/observability.py`` creates the X-Ray Tracer lazily, on the first traced
invocation, so the import is the same in both variants; with tracing on, the first
invocation pays for the Tracer instead. That cost is measured separately (``tracer()`` timed
in-process after the import) and shown in its own column.

The heaviest imports are the top-level packages whose modules' own ("self") import time,
summed, is largest, with the project module that first pulled each one in.

Nothing here changes product code; it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from functions.common import names

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "functions" / "handlers"
SKIP = {"__init__", "base"}
TARGET_MS = 300.0

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")

# What the stack sets on every function (infra/stack.py) plus what Lambda itself sets.
_STACK_ENV = {
    **{variable: f"stepsaga-{kind}" for kind, variable in names.ENV_TABLE.items()},
    names.ENV_ARTIFACTS_BUCKET: "stepsaga-artifacts",
    names.ENV_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/stepsaga-dlq",
    names.ENV_ALLOW_FAULT_INJECTION: "false",
    names.ENV_ALLOWED_PRIVATE_HOSTS: "",
    names.ENV_METRICS_NAMESPACE: names.METRIC_NAMESPACE,
    names.ENV_LOG_LEVEL: "INFO",
}

_TRACER_PROBE = (
    "import time, functions.handlers.{name}\n"
    "from functions.common import observability\n"
    "started = time.perf_counter()\n"
    "observability.tracer()\n"
    "print((time.perf_counter() - started) * 1000)\n"
)


def handlers() -> list[str]:
    return sorted(p.stem for p in HANDLERS.glob("*.py") if p.stem not in SKIP)


def lambda_env(name: str, *, tracing: bool) -> dict[str, str]:
    """A Lambda function's environment, nothing inherited but PATH and HOME."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"stepsaga-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(ROOT),  # Powertools' "am I on Lambda?" check
        names.ENV_SERVICE_NAME: name,
        **_STACK_ENV,
    }
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


# -- parsing -X importtime ---------------------------------------------------------------------


@dataclass
class Node:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    children: list[Node] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.name.split(".")[0]

    def walk(self, path: tuple[Node, ...] = ()) -> Iterable[tuple[Node, tuple[Node, ...]]]:
        """Every node under (and including) this one, with its ancestors (outermost first)."""
        yield self, path
        for child in self.children:
            yield from child.walk((*path, self))


def parse_importtime(stderr: str) -> list[Node]:
    """The import tree from ``-X importtime`` output (printed children first, then parent)."""
    pending: list[Node] = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        node = Node(name, int(self_us), int(cumulative_us), (len(indent) - 1) // 2)
        while pending and pending[-1].depth > node.depth:
            node.children.insert(0, pending.pop())
        pending.append(node)
    return pending


def project_roots(roots: Sequence[Node], package: str = "functions") -> list[Node]:
    """The top-level imports the ``-c`` statement made (the interpreter's own come first)."""
    return [r for r in roots if r.package == package]


@dataclass(frozen=True)
class Sample:
    import_ms: float
    package_ms: dict[str, float]  # top-level package -> summed self time of its modules
    pulled_by: dict[str, str]  # third-party package -> "functions.x -> package.module"
    entries: dict[str, float]  # package -> cumulative ms of the imports project code made of it
    importers: dict[str, str]  # package -> the project module that imported it first
    cpu_ms: float = 0.0  # CPU time (user + system) the import used: robust to a busy machine


def analyse(stderr: str) -> Sample:
    roots = project_roots(parse_importtime(stderr))
    if not roots:
        raise ValueError("no functions.* import found in -X importtime output")
    package_us: dict[str, int] = defaultdict(int)
    pulled_by: dict[str, str] = {}
    entries: dict[str, float] = {}
    importers: dict[str, str] = {}
    for root in roots:
        for node, path in root.walk():
            package_us[node.package] += node.self_us
            if path and path[-1].package == "functions" and node.package != "functions":
                # Summed: pydantic & co. import lazily, in parts, from several project modules.
                entries[node.package] = entries.get(node.package, 0.0) + node.cumulative_us / 1000
                importers.setdefault(node.package, path[-1].name)
            if node.package == "functions" or node.package in pulled_by or not path:
                continue
            if path[-1].package != node.package:  # where this package is first entered
                pulled_by[node.package] = " -> ".join(_chain((*path, node)))
    return Sample(
        import_ms=sum(r.cumulative_us for r in roots) / 1000,
        package_ms={k: v / 1000 for k, v in package_us.items()},
        pulled_by=pulled_by,
        entries=entries,
        importers=importers,
    )


def _chain(path: Sequence[Node]) -> list[str]:
    """From the last project module, the module by which each package was entered."""
    last = max(i for i, n in enumerate(path) if n.package == "functions")
    chain = [path[last].name]
    for previous, node in zip(path[last:], path[last + 1 :], strict=False):
        if node.package != previous.package:
            chain.append(node.name)
    return chain


# -- measuring ---------------------------------------------------------------------------------


# The handler import, with the CPU it used timed around it (``time`` is built in: no import line).
_IMPORT = (
    "import time; _cpu = time.process_time(); import functions.handlers.{name}; "
    "print((time.process_time() - _cpu) * 1000)"
)


def measure_import(name: str, *, tracing: bool) -> Sample:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _IMPORT.format(name=name)],
        cwd=ROOT,
        env=lambda_env(name, tracing=tracing),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing functions.handlers.{name} failed:\n{done.stderr[-2000:]}")
    return replace(analyse(done.stderr), cpu_ms=float(done.stdout.split()[-1]))


def measure_tracer(name: str) -> float:
    """Milliseconds the first traced invocation spends creating the Tracer (tracing on)."""
    done = subprocess.run(
        [sys.executable, "-c", _TRACER_PROBE.format(name=name)],
        cwd=ROOT,
        env=lambda_env(name, tracing=True),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"creating the Tracer after {name} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


@dataclass
class Result:
    handler: str
    traced: list[Sample] = field(default_factory=list)
    untraced: list[Sample] = field(default_factory=list)
    tracer_ms: list[float] = field(default_factory=list)

    @property
    def cpu_ms(self) -> float:
        """CPU the import used (tracing on): less sensitive to a busy machine than wall time."""
        return statistics.median(s.cpu_ms for s in self.traced)

    @property
    def traced_ms(self) -> float:
        return statistics.median(s.import_ms for s in self.traced)

    @property
    def untraced_ms(self) -> float:
        return statistics.median(s.import_ms for s in self.untraced)

    @property
    def tracer_init_ms(self) -> float:
        return statistics.median(self.tracer_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "import_ms_tracing_on": round(self.traced_ms, 1),
            "import_ms_tracing_off": round(self.untraced_ms, 1),
            "import_cpu_ms_tracing_on": round(self.cpu_ms, 1),
            "tracer_init_ms_first_invocation": round(self.tracer_init_ms, 1),
            "runs_ms_tracing_on": [round(s.import_ms, 1) for s in self.traced],
            "runs_ms_tracing_off": [round(s.import_ms, 1) for s in self.untraced],
            "within_target": self.traced_ms <= TARGET_MS,
        }


def run(names: Sequence[str], runs: int, *, progress: bool = True) -> list[Result]:
    results = {name: Result(name) for name in names}
    for i in range(runs):  # round-robin, so machine noise spreads over every handler alike
        if progress:
            print(f"run {i + 1}/{runs} ...", file=sys.stderr)
        for name in names:
            results[name].traced.append(measure_import(name, tracing=True))
            results[name].untraced.append(measure_import(name, tracing=False))
            results[name].tracer_ms.append(measure_tracer(name))
    return list(results.values())


@dataclass(frozen=True)
class Heavy:
    name: str
    median_ms: float
    share: float  # median over samples of (its ms / that handler's import ms)
    via: str = ""


def _medians(values: dict[str, list[float]], samples: int) -> dict[str, float]:
    # Something a handler does not import counts as 0 ms for it.
    return {k: statistics.median(v + [0.0] * (samples - len(v))) for k, v in values.items()}


def _most_common(counts: dict[str, int]) -> str:
    return max(counts.items(), key=lambda kv: kv[1])[0] if counts else ""


def heaviest(results: Sequence[Result], top: int) -> tuple[list[Heavy], list[Heavy]]:
    """The heaviest imports, over every handler and run (tracing on).

    First, the packages project code imports, by the cumulative time of those imports (what
    deferring them would move out of the cold start; a dependency shared with a later
    import is charged to the first). Second, packages by the self time of all their
    modules (``functions`` is the project's own module-level initialisation).
    """
    samples = [s for r in results for s in r.traced]
    per_entry: dict[str, list[float]] = defaultdict(list)
    per_package: dict[str, list[float]] = defaultdict(list)
    entry_share: dict[str, list[float]] = defaultdict(list)
    package_share: dict[str, list[float]] = defaultdict(list)
    importers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pulled: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample in samples:
        for package, ms in sample.entries.items():
            per_entry[package].append(ms)
            entry_share[package].append(ms / sample.import_ms)
            importers[package][sample.importers[package]] += 1
        for package, ms in sample.package_ms.items():
            per_package[package].append(ms)
            package_share[package].append(ms / sample.import_ms)
        for package, chain in sample.pulled_by.items():
            pulled[package][chain] += 1
    n = len(samples)
    entries = sorted(_medians(per_entry, n).items(), key=lambda kv: kv[1], reverse=True)[:top]
    packages = sorted(_medians(per_package, n).items(), key=lambda kv: kv[1], reverse=True)[:top]
    entry_shares, package_shares = _medians(entry_share, n), _medians(package_share, n)
    return (
        [Heavy(p, ms, entry_shares[p], _most_common(importers[p])) for p, ms in entries],
        [Heavy(p, ms, package_shares[p], _most_common(pulled[p])) for p, ms in packages],
    )


# -- output ------------------------------------------------------------------------------------


def render(results: Sequence[Result], heavy: tuple[list[Heavy], list[Heavy]], runs: int) -> str:
    lines = [
        "| handler | import, tracing on: median (min) ms | import, tracing off: median (min) ms "
        f"| import CPU ms | + Tracer at 1st invocation (ms) | import ≤ {TARGET_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ok = "yes" if r.traced_ms <= TARGET_MS else "**no**"
        on = min(s.import_ms for s in r.traced)
        off = min(s.import_ms for s in r.untraced)
        lines.append(
            f"| {r.handler} | {r.traced_ms:.0f} ({on:.0f}) | {r.untraced_ms:.0f} ({off:.0f}) "
            f"| {r.cpu_ms:.0f} | {r.tracer_init_ms:.0f} | {ok} |"
        )
    typical = statistics.median(r.traced_ms for r in results)
    entries, packages = heavy
    lines += [
        "",
        f"Medians of {runs} fresh interpreters per handler and variant (Python {sys.version.split()[0]}); "
        f"median handler import {typical:.0f} ms.",
        "",
        "| heaviest imports (a package, as project code imports it) | cumulative ms | share "
        "| first imported by |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {h.name} | {h.median_ms:.0f} | {h.share:.0%} | `{h.via or '-'}` |" for h in entries]
    lines += [
        "",
        "| heaviest packages (self time of all their modules) | ms | share | first entered via |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {h.name} | {h.median_ms:.0f} | {h.share:.0%} | `{h.via or '-'}` |" for h in packages]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description="Handler cold starts.")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per handler and variant (5)")
    parser.add_argument("--only", default="", help="comma-separated handler modules (default: all)")
    parser.add_argument("--top", type=int, default=5, help="how many heaviest packages to list (5)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(list(argv) if argv is not None else None)
    names = [n for n in args.only.split(",") if n] or handlers()
    unknown = sorted(set(names) - set(handlers()))
    if unknown:
        parser.error(f"no handler module {', '.join(unknown)} in {HANDLERS}")
    results = run(names, args.runs)
    heavy = heaviest(results, args.top)
    if args.json:
        payload = {
            "python": sys.version.split()[0],
            "runs": args.runs,
            "target_ms": TARGET_MS,
            "handlers": [r.as_dict() for r in results],
            "heaviest_imports": [h.__dict__ for h in heavy[0]],
            "heaviest_packages": [h.__dict__ for h in heavy[1]],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render(results, heavy, args.runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
