"""A local execution viewer: the executions of a state machine, each shown as its state graph
coloured by outcome next to its event history, as the Step Functions console shows them.

    python -m stepsaga.cli.viewer [--port 8080]

starts the embedded stack, runs a happy saga and one that fails at Execution, and serves
the viewer on 127.0.0.1 until Ctrl-C. In code (and in the tests)::

    server, url = serve(stack.client, stack.state_machine_arn, port=0)
    ...
    server.shutdown(); server.server_close()

Pages: ``/`` (executions, newest first), ``/executions/<name>`` (graph + history);
JSON: ``/api/executions`` and ``/api/executions/<name>``. Standard library only: no
JavaScript, no network, one self-contained page each. The graph layout is the one of the
committed diagrams (``statemachines.tools.diagram``).

Outcomes, derived from the execution history:

- ``succeeded``: entered, exited, and its last attempt succeeded (or a Succeed state);
- ``retried``: an attempt failed but a retry succeeded;
- ``failed``: its last attempt failed (whether a Catch routed on or not), a Fail state
  that was entered, or a state the execution ended in;
- ``compensated``: a forward step that succeeded and was then undone by its compensation
  (``Compensate<Step>``), and that compensation. The compensation of a step that itself
  failed keeps its own outcome (it cleaned up a partial write), so the failed step stays red;
- ``running``: entered and not exited yet; ``not-run``: never entered.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from statemachines.tools.diagram import COMPENSATION, FORWARD, Swatch, columns, render_svg, role_of
from stepsaga.cli.history import rows

ClientFactory = Callable[[str], Any]

SUCCEEDED = "succeeded"
RETRIED = "retried"
FAILED = "failed"
COMPENSATED = "compensated"
RUNNING = "running"
NOT_RUN = "not-run"

OUTCOME_PALETTE: dict[str, Swatch] = {
    SUCCEEDED: Swatch("#2f9e44", "#1b6e2e", "#ffffff", "succeeded"),
    RETRIED: Swatch("#1098ad", "#0b6b7a", "#ffffff", "retried, then succeeded"),
    FAILED: Swatch("#e03131", "#8f1d1d", "#ffffff", "failed"),
    COMPENSATED: Swatch("#f59f00", "#a86b00", "#2b1d00", "compensated (done, then undone)"),
    RUNNING: Swatch("#4c6ef5", "#2b44b0", "#ffffff", "running"),
    NOT_RUN: Swatch("#f1f3f5", "#adb5bd", "#6c757d", "not run"),
}
STATUS_COLOURS = {
    "SUCCEEDED": "#2f9e44",
    "FAILED": "#e03131",
    "RUNNING": "#4c6ef5",
    "TIMED_OUT": "#e8590c",
    "ABORTED": "#868e96",
    "PENDING_REDRIVE": "#f59f00",
}

SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
ATTEMPT_FAILED = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "ActivityFailed",
    "ActivityTimedOut",
    "ActivityScheduleFailed",
)
ATTEMPT_SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
# Events of a Map or Parallel state itself (not of the states inside it).
CONTAINER_FAILED = ("MapStateFailed", "MapStateAborted", "ParallelStateFailed", "ParallelStateAborted")
CONTAINER_SUCCEEDED = ("MapStateSucceeded", "ParallelStateSucceeded")
EXECUTION_OVER = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")

_NAME = re.compile(r"^[^\s/\\?#%<>\"'`{}|^\[\]*~$&,;:]{1,80}$")


@dataclass
class StateRun:
    """What one top-level state did in one execution."""

    name: str
    type: str
    role: str
    outcome: str = NOT_RUN
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    cause: str = ""
    compensates: str = ""  # for a compensation: the forward step it undoes
    entered: bool = False
    exited: bool = False
    last_attempt_ok: bool | None = None


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def compensations(definition: Mapping[str, Any]) -> dict[str, str]:
    """Compensation state -> the forward step it undoes (the compiler's ``Compensate<Step>``)."""
    groups = columns(definition)
    forward = set(groups[FORWARD])
    return {
        name: name[len("Compensate") :]
        for name in groups[COMPENSATION]
        if name.startswith("Compensate") and name[len("Compensate") :] in forward
    }


def outcomes(definition: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, StateRun]:
    """Each top-level state's outcome in an execution, from its history (events in id order)."""
    states: Mapping[str, Any] = definition["States"]
    roles = role_of(definition)
    runs = {name: StateRun(name, state["Type"], roles.get(name, "")) for name, state in states.items()}
    active: StateRun | None = None  # the top-level state being run
    nested = 0  # states inside a Map/Parallel being run: their task events are not the state's
    over = False
    for event in events:
        kind = event["type"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            name = details.get("name", "")
            if name in runs:
                active, nested = runs[name], 0
                active.entered, active.exited, active.last_attempt_ok = True, False, None
            else:
                nested += 1
        elif kind.endswith("StateExited"):
            name = details.get("name", "")
            if name in runs:
                runs[name].exited = True
                active = None
            else:
                nested = max(nested - 1, 0)
        elif active is None:
            pass
        elif kind in CONTAINER_FAILED or (kind in ATTEMPT_FAILED and not nested):
            active.last_attempt_ok = False
            active.errors.append(str(details.get("error") or kind))
            active.cause = str(details.get("cause") or "")
        elif kind in CONTAINER_SUCCEEDED or (kind in ATTEMPT_SUCCEEDED and not nested):
            active.last_attempt_ok = True
        elif kind in SCHEDULED and not nested:
            active.attempts += 1
        if kind in EXECUTION_OVER:
            over = True
            if kind != "ExecutionSucceeded" and active is not None:
                active.errors.append(str(details.get("error") or kind))
                active.cause = str(details.get("cause") or "")

    for run in runs.values():
        if not run.entered:
            run.outcome = NOT_RUN
        elif run.type == "Fail" or run.last_attempt_ok is False:
            run.outcome = FAILED
        elif not run.exited and run.type != "Succeed":
            run.outcome = FAILED if over else RUNNING
        else:
            run.outcome = RETRIED if run.errors else SUCCEEDED
    done = (SUCCEEDED, RETRIED)
    for compensation, step in compensations(definition).items():
        runs[compensation].compensates = step
        if runs[compensation].outcome in done and runs[step].outcome in done:
            runs[compensation].outcome = runs[step].outcome = COMPENSATED
    return runs


def transitions_taken(definition: Mapping[str, Any], events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The top-level transitions an execution followed, in order."""
    entered = [
        _details(e).get("name", "")
        for e in events
        if e["type"].endswith("StateEntered") and _details(e).get("name") in definition["States"]
    ]
    return list(itertools.pairwise(entered))


def _subtitle(run: StateRun, state: Mapping[str, Any]) -> str:
    if run.outcome == NOT_RUN:
        return "not run"
    if run.outcome == RUNNING:
        return "running" + (f", attempt {run.attempts}" if run.attempts > 1 else "")
    if run.outcome == COMPENSATED:
        return f"undid {run.compensates}" if run.compensates else "done, then undone"
    if run.compensates and run.outcome == SUCCEEDED:  # it undid the partial work of a failed step
        return f"cleaned up after {run.compensates}"
    if run.outcome == RETRIED:
        return f"succeeded after {run.attempts} attempts" if run.attempts > 1 else "succeeded after a retry"
    if run.outcome == FAILED:
        error = state.get("Error") if run.type == "Fail" else (run.errors[-1] if run.errors else "")
        return f"failed: {error}" if error else "failed"
    return "succeeded"


def _tooltip(run: StateRun) -> str:
    lines = [f"{run.name} ({run.type}): {run.outcome}"]
    if run.attempts:
        lines.append(f"{run.attempts} attempt{'s' if run.attempts != 1 else ''}")
    if run.errors:
        lines.append("errors: " + ", ".join(run.errors))
    if run.cause:
        lines.append(_short(_message(run.cause), 300))
    return "\n".join(lines)


def _message(cause: str) -> str:
    """A Lambda error's cause is a JSON document: its message is what a reader wants first."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return cause


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(
    definition: Mapping[str, Any], runs: Mapping[str, StateRun], taken: list[tuple[str, str]]
) -> str:
    states = definition["States"]
    return render_svg(
        definition,
        {name: run.outcome for name, run in runs.items()},
        OUTCOME_PALETTE,
        attribute="data-outcome",
        subtitles={name: _subtitle(run, states[name]) for name, run in runs.items()},
        tooltips={name: _tooltip(run) for name, run in runs.items()},
        taken=set(taken),
        legend=list(OUTCOME_PALETTE),
    )


# -- reading from Step Functions -------------------------------------------------------------------


def _when(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat(sep=" ", timespec="milliseconds")
    return "" if moment is None else str(moment)


def _duration(start: Any, stop: Any) -> str:
    if not isinstance(start, datetime) or not isinstance(stop, datetime):
        return ""
    seconds = (stop - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


class Viewer:
    """Reads executions of one state machine through a boto3 client factory."""

    def __init__(self, client_factory: ClientFactory, state_machine_arn: str) -> None:
        self.client_factory = client_factory
        self.state_machine_arn = state_machine_arn

    def _sfn(self) -> Any:
        return self.client_factory("stepfunctions")

    def definition(self) -> dict[str, Any]:
        described = self._sfn().describe_state_machine(stateMachineArn=self.state_machine_arn)
        return dict(json.loads(described["definition"]))

    def executions(self) -> list[dict[str, Any]]:
        """Every execution, newest first."""
        found: list[dict[str, Any]] = []
        paginator = self._sfn().get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            found.extend(page["executions"])
        found.sort(key=lambda e: (e.get("startDate") or datetime.min, e["name"]), reverse=True)
        return found

    def execution_arn(self, name: str) -> str:
        prefix, machine = self.state_machine_arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{machine}:{name}"

    def execution(self, name: str) -> dict[str, Any] | None:
        """One execution: its description, history, and each state's outcome (None if unknown)."""
        if not _NAME.match(name):
            return None
        sfn = self._sfn()
        arn = self.execution_arn(name)
        try:
            described = sfn.describe_execution(executionArn=arn)
        except (sfn.exceptions.ExecutionDoesNotExist, sfn.exceptions.InvalidArn):
            return None
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        events.sort(key=lambda e: e["id"])
        definition = self.definition()
        return {
            "described": described,
            "events": events,
            "definition": definition,
            "runs": outcomes(definition, events),
            "taken": transitions_taken(definition, events),
        }

    # -- JSON ------------------------------------------------------------------------------------
    def executions_json(self) -> dict[str, Any]:
        return {
            "stateMachineArn": self.state_machine_arn,
            "executions": [
                {
                    "name": e["name"],
                    "executionArn": e["executionArn"],
                    "status": e["status"],
                    "startDate": _when(e.get("startDate")),
                    "stopDate": _when(e.get("stopDate")),
                    "url": f"/executions/{quote(e['name'])}",
                }
                for e in self.executions()
            ],
        }

    def execution_json(self, name: str) -> dict[str, Any] | None:
        found = self.execution(name)
        if found is None:
            return None
        described = found["described"]
        runs: dict[str, StateRun] = found["runs"]
        return {
            "name": described["name"],
            "executionArn": described["executionArn"],
            "status": described["status"],
            "startDate": _when(described.get("startDate")),
            "stopDate": _when(described.get("stopDate")),
            "error": described.get("error", ""),
            "cause": described.get("cause", ""),
            "states": {
                n: {k: v for k, v in asdict(r).items() if k not in ("name", "last_attempt_ok")}
                for n, r in runs.items()
            },
            "outcomes": {n: r.outcome for n, r in runs.items()},
            "transitions": [list(t) for t in found["taken"]],
            "history": [asdict(row) for row in rows(found["events"])],
        }

    # -- HTML ------------------------------------------------------------------------------------
    def index_html(self) -> str:
        listed = self.executions()
        body = [
            "<header><strong>stepsaga</strong> local execution viewer",
            f'<span class="arn">{escape(self.state_machine_arn)}</span></header><main>',
            f"<h1>Executions <small>({len(listed)})</small></h1>",
        ]
        if not listed:
            body.append("<p>No executions yet.</p>")
        else:
            body.append(
                '<table class="list"><thead><tr><th>Name</th><th>Status</th><th>Started</th>'
                "<th>Stopped</th><th>Duration</th></tr></thead><tbody>"
            )
            for e in listed:
                body.append(
                    f'<tr><td><a href="/executions/{escape(quote(e["name"]))}">{escape(e["name"])}</a></td>'
                    f"<td>{_status(e['status'])}</td><td>{escape(_when(e.get('startDate')))}</td>"
                    f"<td>{escape(_when(e.get('stopDate')))}</td>"
                    f"<td>{escape(_duration(e.get('startDate'), e.get('stopDate')))}</td></tr>"
                )
            body.append("</tbody></table>")
        body.append("</main>")
        running = any(e["status"] == "RUNNING" for e in listed)
        return _page("Executions", "".join(body), refresh=running)

    def execution_html(self, name: str) -> str | None:
        found = self.execution(name)
        if found is None:
            return None
        described = found["described"]
        events = found["events"]
        status = described["status"]
        facts = [
            ("Status", _status(status)),
            ("Started", escape(_when(described.get("startDate")))),
            ("Stopped", escape(_when(described.get("stopDate"))) or "-"),
            ("Duration", escape(_duration(described.get("startDate"), described.get("stopDate"))) or "-"),
        ]
        if described.get("error"):
            facts.append(("Error", f"<code>{escape(described['error'])}</code>"))
        if described.get("cause"):
            message = _message(described["cause"])
            cause = escape(_short(message, 300))
            if message != described["cause"]:
                full = escape(described["cause"])
                cause += f"<details><summary>full cause</summary><pre>{full}</pre></details>"
            facts.append(("Cause", cause))
        table = [
            '<table class="events"><thead><tr><th>ID</th><th>Type</th><th>Step</th>'
            '<th class="num" title="Elapsed since the execution started">ms</th></tr></thead><tbody>'
        ]
        for row in rows(events):
            failed = any(word in row.type for word in ("Failed", "TimedOut", "Aborted"))
            css = ' class="bad"' if failed else ""
            table.append(
                f'<tr{css}><td class="num">{row.id}</td><td>{escape(row.type)}</td>'
                f'<td>{escape(row.state)}</td><td class="num">{row.elapsed_ms}</td></tr>'
            )
            if row.detail:
                table.append(
                    f'<tr class="detail{" bad" if failed else ""}"><td></td>'
                    f'<td colspan="3">{escape(row.detail)}</td></tr>'
                )
        table.append("</tbody></table>")
        body = [
            '<header><a href="/">&larr; Executions</a>',
            f'<span class="arn">{escape(described["executionArn"])}</span></header><main>',
            f"<h1>{escape(described['name'])}</h1>",
            '<dl class="facts">',
            *(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts),
            "</dl>",
            '<div class="split"><section class="graph"><h2>Graph</h2>',
            graph_svg(found["definition"], found["runs"], found["taken"]),
            "</section>",
            f'<section class="history"><h2>Event history <small>({len(events)} events)</small></h2>',
            *table,
            "</section></div></main>",
        ]
        return _page(described["name"], "".join(body), refresh=status == "RUNNING")


def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#868e96")
    return f'<span class="status" style="background:{colour}">{escape(status)}</span>'


CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 "DejaVu Sans",Helvetica,Arial,sans-serif;color:#212529;background:#f1f3f5}
header{display:flex;gap:18px;align-items:baseline;padding:10px 20px;background:#232f3e;color:#fff}
header a{color:#ffb84d;text-decoration:none;font-weight:bold}
header .arn{color:#adb5bd;font:12px monospace}
main{padding:6px 20px 20px}
h1{font-size:20px;margin:10px 0}
h1 small,h2 small{color:#868e96;font-weight:normal}
h2{font-size:14px;margin:0 0 8px;color:#495057}
a{color:#1864ab}
.facts{display:flex;flex-wrap:wrap;gap:6px 26px;margin:0 0 12px}
.facts dt{font-size:11px;color:#868e96;text-transform:uppercase}
.facts dd{margin:0}
.status{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-size:12px;font-weight:bold}
.split{display:flex;gap:14px;align-items:flex-start}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:10px 12px}
.graph{flex:0 1 860px;min-width:0}
.graph svg{display:block;max-width:100%;height:auto}
.history{flex:1 1 450px;min-width:450px;overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{padding:3px 7px;text-align:left;vertical-align:top;border-bottom:1px solid #e9ecef}
th{font-size:12px;color:#495057;background:#f8f9fa;white-space:nowrap}
details pre{white-space:pre-wrap;font-size:11px;max-height:240px;overflow:auto;background:#f8f9fa;padding:6px}
table.events{font-size:12px}
table.events tr.detail td{border-top:0;color:#495057;font-size:11.5px;padding-top:0}
tr.bad td{background:#fff5f5;color:#a61e1e}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.list{background:#fff;border:1px solid #dee2e6}
code{font-size:13px}
"""


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · stepsaga viewer</title>{meta}<style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


# -- the server ----------------------------------------------------------------------------------


NOT_FOUND = '<main><h1>{}</h1><p><a href="/">All executions</a></p></main>'


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, viewer: Viewer, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.viewer = viewer


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer

    def do_GET(self) -> None:
        viewer = self.server.viewer
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if path == "/":
                self._send(200, "text/html", viewer.index_html())
            elif path == "/api/executions":
                self._send(200, "application/json", json.dumps(viewer.executions_json(), indent=1))
            elif path.startswith("/api/executions/"):
                found = viewer.execution_json(unquote(path[len("/api/executions/") :]))
                if found is None:
                    self._send(404, "application/json", json.dumps({"error": "no such execution"}))
                else:
                    self._send(200, "application/json", json.dumps(found, indent=1, default=str))
            elif path.startswith("/executions/"):
                page = viewer.execution_html(unquote(path[len("/executions/") :]))
                if page is None:
                    self._send(404, "text/html", _page("Not found", NOT_FOUND.format("No such execution")))
                else:
                    self._send(200, "text/html", page)
            else:
                self._send(404, "text/html", _page("Not found", NOT_FOUND.format("Not found")))
        except Exception as error:  # a viewer shows the error rather than dropping the connection
            message = f"{type(error).__name__}: {error}"
            self._send(
                500, "text/html", _page("Error", f"<main><h1>Error</h1><pre>{escape(message)}</pre></main>")
            )

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet, like the demo site
        pass


def serve(client_factory: ClientFactory, state_machine_arn: str, port: int = 0) -> tuple[ViewerServer, str]:
    """Serve the viewer on 127.0.0.1:``port`` (0: any free port) on a daemon thread.

    Returns the server (``shutdown()`` then ``server_close()`` it) and its base URL.
    """
    server = ViewerServer(Viewer(client_factory, state_machine_arn), port)
    threading.Thread(target=server.serve_forever, name="saga-viewer", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- the command ---------------------------------------------------------------------------------

DEMO_STORIES = [
    'As a visitor I open / and see "Welcome to Acme"',
    "As a buyer I open /pricing and see 'Plans' and 'Free trial'",
    'As a member I open /login and see "Sign in"',
]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepsaga.cli.viewer", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)

    import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)
    from stepsaga.cli.demo_site import DemoSite
    from stepsaga.embedded import EmbeddedStack

    with DemoSite() as site, EmbeddedStack() as stack:
        request = {"project": "acme-web", "target_url": site.url, "user_stories": DEMO_STORIES}
        happy = stack.run(request)
        failed = stack.run(request, faults={"Execution": {"mode": "permanent"}})
        server, url = serve(stack.client, stack.state_machine_arn, args.port)
        print(f"stepsaga viewer on {url}/  (Ctrl-C to stop)")
        for described in (happy, failed):
            print(f"  {described['status']:<10} {url}/executions/{quote(described['name'])}")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on `kill` as on Ctrl-C
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
