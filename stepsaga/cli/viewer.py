"""A local console: every state machine and every execution of each, an execution shown as its
state graph coloured by outcome next to its event history, as the Step Functions console shows them.

    stepsaga viewer [--port 8080] [--endpoint URL | --embedded]

serves the viewer on 127.0.0.1 until Ctrl-C, over the stack a running ``stepsaga up`` serves
(found by its state file, or the AWS endpoint ``--endpoint``); with none running, or with
``--embedded``, it starts its own embedded stack and runs a happy saga and one that fails at
Execution. In code (and in the tests)::

    server, url = serve(stack.client, stack.state_machine_arn, port=0)
    ...
    server.shutdown(); server.server_close()

Pages: ``/`` (every state machine of the stack, and every execution, newest first),
``/executions/<name>[?machine=<machine>]`` (graph + history; approve and cancel buttons at a waiting
gate, resume after a failed rollback), ``/executions/<name>/states/<event id>`` (a state's input and
output). The buttons are forms that POST to the page's address + ``/approve|cancel|resume``.
JSON: ``/api/executions`` and ``/api/executions/<name>``. The pages are Jinja2 templates
(``stepsaga/cli/templates/``) with autoescaping: no JavaScript, no network, one self-contained
page each. The graph layout is the one of the committed diagrams (``statemachines.tools.diagram``).

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
import contextlib
import errno
import itertools
import json
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from functions.api.history import details, message, rows, short
from functions.common import arns
from statemachines import catalogue
from statemachines.saga import COMPENSATION_FAILED
from statemachines.tools.diagram import COMPENSATION, FORWARD, Swatch, columns, render_svg, role_of
from stepsaga.cli.history import CAUSE_LIMIT

ClientFactory = Callable[[str], Any]

SUCCEEDED = "succeeded"
RETRIED = "retried"
FAILED = "failed"
COMPENSATED = "compensated"
RUNNING = "running"
NOT_RUN = "not-run"

# What the console's forms do, and who it says sent the signal.
APPROVE, CANCEL, RESUME = "approve", "cancel", "resume"
SENDER = "stepsaga console"
FORM_LIMIT = 16_384  # bytes of a form: a comment or a reason

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
        facts = details(event)
        if kind.endswith("StateEntered"):
            name = facts.get("name", "")
            if name in runs:
                active, nested = runs[name], 0
                active.entered, active.exited, active.last_attempt_ok = True, False, None
            else:
                nested += 1
        elif kind.endswith("StateExited"):
            name = facts.get("name", "")
            if name in runs:
                runs[name].exited = True
                active = None
            else:
                nested = max(nested - 1, 0)
        elif active is None:
            pass
        elif kind in CONTAINER_FAILED or (kind in ATTEMPT_FAILED and not nested):
            active.last_attempt_ok = False
            active.errors.append(str(facts.get("error") or kind))
            active.cause = str(facts.get("cause") or "")
        elif kind in CONTAINER_SUCCEEDED or (kind in ATTEMPT_SUCCEEDED and not nested):
            active.last_attempt_ok = True
        elif kind in SCHEDULED and not nested:
            active.attempts += 1
        if kind in EXECUTION_OVER:
            over = True
            if kind != "ExecutionSucceeded" and active is not None:
                active.errors.append(str(facts.get("error") or kind))
                active.cause = str(facts.get("cause") or "")

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
        details(e).get("name", "")
        for e in events
        if e["type"].endswith("StateEntered") and details(e).get("name") in definition["States"]
    ]
    return list(itertools.pairwise(entered))


def _subtitle(run: StateRun, state: Mapping[str, Any]) -> str:
    if run.outcome == NOT_RUN:
        return "not run"
    if run.outcome == RUNNING and _is_gate(state):
        return "waiting for approval"
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
        lines.append(short(message(run.cause), 300))
    return "\n".join(lines)


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
    """Reads the executions of every state machine of a stack through a boto3 client factory.

    ``state_machine_arn`` is the machine whose executions keep the short ``/executions/<name>``
    address; the others add ``?machine=<name>``. With the ``stack`` itself (an ``EmbeddedStack``,
    own or attached) the pages also act: approve and cancel a saga at its gate, resume one whose
    rollback failed; machines are then named as the catalogue names them.
    """

    def __init__(self, client_factory: ClientFactory, state_machine_arn: str, stack: Any = None) -> None:
        self.client_factory = client_factory
        self.state_machine_arn = state_machine_arn
        self.stack = stack
        # Every form carries it: a page another site serves cannot know it (no cross-site POSTs).
        self.token = secrets.token_urlsafe(24)

    def _sfn(self) -> Any:
        return self.client_factory("stepfunctions")

    def machines(self) -> dict[str, str]:
        """Every state machine: ARN -> the name the console shows; the default machine first."""
        found: dict[str, str] = {}
        sfn = self._sfn()
        for page in sfn.get_paginator("list_state_machines").paginate():
            found.update({m["stateMachineArn"]: m["name"] for m in page["stateMachines"]})
        if self.stack is not None:  # the catalogue's names, which control and resume take
            for name in catalogue.machines():
                with contextlib.suppress(KeyError):  # a machine this stack does not deploy
                    found[self.stack.machine_arn(name)] = name
        found.setdefault(self.state_machine_arn, self.state_machine_arn.rsplit(":", 1)[-1])
        default = {self.state_machine_arn: found.pop(self.state_machine_arn)}
        return default | dict(sorted(found.items(), key=lambda item: item[1]))

    def definition(self, state_machine_arn: str | None = None) -> dict[str, Any]:
        arn = state_machine_arn or self.state_machine_arn
        described = self._sfn().describe_state_machine(stateMachineArn=arn)
        return dict(json.loads(described["definition"]))

    def executions(self, machines: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every execution of every machine, newest first, each with its ``machine``."""
        found: list[dict[str, Any]] = []
        paginator = self._sfn().get_paginator("list_executions")
        for arn, machine in (machines or self.machines()).items():
            for page in paginator.paginate(stateMachineArn=arn):
                found.extend({**e, "machine": machine, "machineArn": arn} for e in page["executions"])
        found.sort(key=lambda e: (e.get("startDate") or datetime.min, e["name"]), reverse=True)
        return found

    def execution_arn(self, name: str, state_machine_arn: str | None = None) -> str:
        return arns.execution_arn(state_machine_arn or self.state_machine_arn, name)

    def href(self, name: str, machine_arn: str, machines: Mapping[str, str]) -> str:
        return _href(name, None if machine_arn == self.state_machine_arn else machines.get(machine_arn))

    def execution(self, name: str, machine: str | None = None) -> dict[str, Any] | None:
        """One execution: its description, history, and each state's outcome (None if unknown).

        ``machine`` names its state machine; without it, the default machine's execution."""
        if not _NAME.match(name):
            return None
        machines = self.machines()
        if machine is None:
            arn = self.state_machine_arn
        else:
            arn = next((a for a, label in machines.items() if label == machine), "")
            if not arn:
                return None
        sfn = self._sfn()
        execution_arn = self.execution_arn(name, arn)
        try:
            described = sfn.describe_execution(executionArn=execution_arn)
        except (sfn.exceptions.ExecutionDoesNotExist, sfn.exceptions.InvalidArn):
            return None
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        events.sort(key=lambda e: e["id"])
        definition = self.definition(arn)
        runs = outcomes(definition, events)
        return {
            "described": described,
            "events": events,
            "definition": definition,
            "runs": runs,
            "taken": transitions_taken(definition, events),
            "machine": machines[arn],
            "machine_arn": arn,
            "href": self.href(name, arn, machines),
            "waiting": waiting_gates(definition, runs),
        }

    def actions(self, found: Mapping[str, Any]) -> list[str]:
        """What the page offers for this execution: approve and cancel at a waiting gate, resume
        after a failed rollback. Only with the stack, and only for the catalogue's sagas."""
        if self.stack is None or found["machine"] not in catalogue.SAGAS:
            return []
        status = found["described"]["status"]
        if status == "RUNNING" and found["waiting"]:
            return [APPROVE, CANCEL]
        from functions.control.resume import RESUMABLE
        from stepsaga.cli.resume import steps_to_compensate

        rollback_failed = found["runs"].get(COMPENSATION_FAILED)
        if status in RESUMABLE and rollback_failed is not None and rollback_failed.entered:
            # Once a resume has compensated every step, the history still ends CompensationFailed.
            entered = {state for state, run in found["runs"].items() if run.entered}
            saga = catalogue.SAGAS[found["machine"]]
            if steps_to_compensate(self.stack, found["described"]["name"], saga, entered):
                return [RESUME]
        return []

    def state_io(self, name: str, event_id: int, machine: str | None = None) -> dict[str, Any] | None:
        """A state's input and output, as the console shows them: from the event that entered it
        (``event_id`` may be that event or the one that exited it) and the exit that follows."""
        found = self.execution(name, machine)
        if found is None:
            return None
        events: list[dict[str, Any]] = found["events"]
        at = next((i for i, e in enumerate(events) if e["id"] == event_id), None)
        if at is None or not events[at]["type"].endswith(("StateEntered", "StateExited")):
            return None
        state = details(events[at]).get("name", "")
        if events[at]["type"].endswith("StateExited"):  # back to the entry it closes
            at = next(
                i
                for i in range(at, -1, -1)
                if events[i]["type"].endswith("StateEntered") and details(events[i]).get("name") == state
            )
        entered = events[at]
        exited = next(
            (
                e
                for e in events[at + 1 :]
                if e["type"].endswith("StateExited") and details(e).get("name") == state
            ),
            None,
        )
        return {
            "found": found,
            "state": state,
            "type": entered["type"].removesuffix("StateEntered"),
            "entered_id": entered["id"],
            "exited_id": exited["id"] if exited else None,
            "input": _pretty(details(entered).get("input")),
            "output": _pretty(details(exited).get("output")) if exited else None,
        }

    # -- JSON ------------------------------------------------------------------------------------
    def executions_json(self) -> dict[str, Any]:
        machines = self.machines()
        return {
            "stateMachineArn": self.state_machine_arn,
            "machines": [{"name": label, "stateMachineArn": arn} for arn, label in machines.items()],
            "executions": [
                {
                    "name": e["name"],
                    "machine": e["machine"],
                    "executionArn": e["executionArn"],
                    "status": e["status"],
                    "startDate": _when(e.get("startDate")),
                    "stopDate": _when(e.get("stopDate")),
                    "url": self.href(e["name"], e["machineArn"], machines),
                }
                for e in self.executions(machines)
            ],
        }

    def execution_json(self, name: str, machine: str | None = None) -> dict[str, Any] | None:
        found = self.execution(name, machine)
        if found is None:
            return None
        described = found["described"]
        runs: dict[str, StateRun] = found["runs"]
        return {
            "name": described["name"],
            "machine": found["machine"],
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
            "waitingForApproval": found["waiting"],
            "actions": self.actions(found),
            "history": rows(found["events"], cause_limit=CAUSE_LIMIT),
        }

    # -- HTML: the data each page shows; the markup is in the templates ---------------------------
    def index_html(self) -> str:
        machines = self.machines()
        listed = self.executions(machines)
        executions = [
            {
                "name": e["name"],
                "machine": e["machine"],
                "href": self.href(e["name"], e["machineArn"], machines),
                "status": _status(e["status"]),
                "waiting": self._waiting(e) if e["status"] == "RUNNING" else [],
                "started": _when(e.get("startDate")),
                "stopped": _when(e.get("stopDate")),
                "duration": _duration(e.get("startDate"), e.get("stopDate")),
            }
            for e in listed
        ]
        counts = {arn: sum(e["machineArn"] == arn for e in listed) for arn in machines}
        # Reload while a saga works; one that waits for a reviewer changes only when someone acts.
        running = any(e["status"]["name"] == "RUNNING" and not e["waiting"] for e in executions)
        return _render(
            "index.html",
            title="Executions",
            refresh=running,
            state_machine_arn=self.state_machine_arn,
            machines=[
                {"name": label, "arn": arn, "executions": counts[arn]} for arn, label in machines.items()
            ],
            executions=executions,
        )

    def _waiting(self, listed: Mapping[str, Any]) -> list[str]:
        found = self.execution(listed["name"], listed["machine"])
        return found["waiting"] if found else []

    def execution_html(self, name: str, machine: str | None = None) -> str | None:
        found = self.execution(name, machine)
        if found is None:
            return None
        described = found["described"]
        events = found["events"]
        cause = None
        if described.get("cause"):
            full = described["cause"]
            said = message(full)
            cause = {"message": short(said, 300), "full": full if said != full else ""}
        history = [
            {
                **row,
                "failed": any(word in row["type"] for word in ("Failed", "TimedOut", "Aborted")),
                "href": _state_href(found["href"], row["id"])
                if row["type"].endswith(("StateEntered", "StateExited"))
                else "",
            }
            for row in rows(events, cause_limit=CAUSE_LIMIT)
        ]
        return _render(
            "execution.html",
            title=described["name"],
            # Not while it waits at a gate: a reload would wipe the comment or reason being typed.
            refresh=described["status"] == "RUNNING" and not found["waiting"],
            name=described["name"],
            machine=found["machine"],
            href=found["href"],
            execution_arn=described["executionArn"],
            status=_status(described["status"]),
            waiting=found["waiting"],
            actions=self.actions(found),
            token=self.token,
            started=_when(described.get("startDate")),
            stopped=_when(described.get("stopDate")),
            duration=_duration(described.get("startDate"), described.get("stopDate")),
            error=described.get("error", ""),
            cause=cause,
            # Built by render_svg, which escapes every name, subtitle and tooltip it writes.
            graph=Markup(graph_svg(found["definition"], found["runs"], found["taken"])),
            events=len(events),
            history=history,
        )

    def state_html(self, name: str, event_id: int, machine: str | None = None) -> str | None:
        shown = self.state_io(name, event_id, machine)
        if shown is None:
            return None
        found = shown.pop("found")
        return _render(
            "state.html",
            title=f"{shown['state']} · {name}",
            name=name,
            href=found["href"],
            execution_arn=found["described"]["executionArn"],
            **shown,
        )

    # -- actions: what the forms POST ------------------------------------------------------------
    def act(
        self, name: str, machine: str | None, action: str, form: Mapping[str, str]
    ) -> tuple[str, list[str]]:
        """Approve, cancel or resume; returns the execution's page address and what was done.

        Raises LookupError (no such execution), PermissionError (not offered for it) and
        ValueError (the saga cannot take it now: finished, no longer waiting, no reason given)."""
        from functions.control import SignalError
        from stepsaga.cli.resume import report_lines, resume

        found = self.execution(name, machine)
        if found is None:
            raise LookupError(f"no execution {name!r}")
        if action not in self.actions(found):
            raise PermissionError(f"{action} does not apply to {name} ({found['described']['status']})")
        machine = found["machine"]
        try:
            if action == APPROVE:
                self.stack.control(machine).approve(name, sender=SENDER, comment=form.get("comment") or None)
                return found["href"], [f"approved {name}"]
            if action == CANCEL:
                self.stack.control(machine).cancel(name, form.get("reason", ""), sender=SENDER)
                return found["href"], [f"cancelled {name}: {form.get('reason', '').strip()}"]
            report = resume(self.stack, name, saga=catalogue.SAGAS[machine])
        except SignalError as error:
            raise ValueError(str(error)) from error
        return found["href"], [f"resumed {name}: {report['execution']}", *report_lines(report)]


def waiting_gates(definition: Mapping[str, Any], runs: Mapping[str, StateRun]) -> list[str]:
    """The gates (tasks that wait for a task token: an approval) the execution is waiting at."""
    states = definition["States"]
    return [name for name, run in runs.items() if run.outcome == RUNNING and _is_gate(states[name])]


def _is_gate(state: Mapping[str, Any]) -> bool:
    return str(state.get("Resource", "")).endswith(".waitForTaskToken")


def _pretty(document: Any) -> str:
    """A state's input or output as the console shows it: indented JSON (the raw text if not JSON)."""
    if document is None:
        return ""
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(document)


def _href(name: str, machine: str | None = None) -> str:
    return f"/executions/{quote(name)}" + (f"?machine={quote(machine)}" if machine else "")


def _state_href(execution_href: str, event_id: int) -> str:
    path, _, query = execution_href.partition("?")
    return f"{path}/states/{event_id}" + (f"?{query}" if query else "")


def _status(status: str) -> dict[str, str]:
    return {"name": status, "colour": STATUS_COLOURS.get(status, "#868e96")}


# Every value reaches a page through the template engine, escaped; only the graph is marked safe.
PAGES = Environment(
    loader=PackageLoader("stepsaga.cli", "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _render(template: str, *, title: str, refresh: bool = False, **values: Any) -> str:
    return PAGES.get_template(template).render(title=title, refresh=refresh, **values)


def _notice(title: str, heading: str, detail: str = "", back: str = "/") -> str:
    """A page that only says what happened: not found, the error the server met, what a form did."""
    return _render("message.html", title=title, heading=heading, detail=detail, back=back)


# -- the server ----------------------------------------------------------------------------------


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, viewer: Viewer, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.viewer = viewer


_EXECUTION = re.compile(r"^/executions/([^/]+)(?:/states/(\d{1,9}))?$")
_ACTION = re.compile(rf"^/executions/([^/]+)/({APPROVE}|{CANCEL}|{RESUME})$")


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer

    def do_GET(self) -> None:
        if not self._own_host():
            return
        viewer = self.server.viewer
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        machine = parse_qs(parts.query).get("machine", [None])[0]
        try:
            if path == "/":
                self._send(200, "text/html", viewer.index_html())
            elif path == "/api/executions":
                self._send(200, "application/json", json.dumps(viewer.executions_json(), indent=1))
            elif path.startswith("/api/executions/"):
                found = viewer.execution_json(unquote(path[len("/api/executions/") :]), machine)
                if found is None:
                    self._send(404, "application/json", json.dumps({"error": "no such execution"}))
                else:
                    self._send(200, "application/json", json.dumps(found, indent=1, default=str))
            elif matched := _EXECUTION.match(path):
                name, event = unquote(matched[1]), matched[2]
                if event is None:
                    page = viewer.execution_html(name, machine)
                else:
                    page = viewer.state_html(name, int(event), machine)
                if page is None:
                    self._send(404, "text/html", _notice("Not found", "No such execution or state"))
                else:
                    self._send(200, "text/html", page)
            else:
                self._send(404, "text/html", _notice("Not found", "Not found"))
        except Exception as error:  # a viewer shows the error rather than dropping the connection
            self._send(500, "text/html", _notice("Error", "Error", f"{type(error).__name__}: {error}"))

    def do_POST(self) -> None:
        """The forms: approve, cancel, resume. Only from the console's own pages (same origin,
        and the token each form carries), so another site open in the browser cannot signal."""
        if not self._own_host():
            return
        viewer = self.server.viewer
        parts = urlsplit(self.path)
        matched = _ACTION.match(parts.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if matched is None:
            self._send(404, "text/html", _notice("Not found", "Not found"))
            return
        if not 0 <= length <= FORM_LIMIT:
            self._send(413, "text/html", _notice("Too large", "The form is too large"))
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(errors="replace")).items()}
        if not self._same_origin() or not secrets.compare_digest(form.get("token", ""), viewer.token):
            self._send(403, "text/html", _notice("Forbidden", "Only the console's own forms can do that"))
            return
        machine = parse_qs(parts.query).get("machine", [None])[0]
        try:
            back, done = viewer.act(unquote(matched[1]), machine, matched[2], form)
        except LookupError as error:
            self._send(404, "text/html", _notice("Not found", "Not found", str(error)))
        except (PermissionError, ValueError) as error:
            self._send(409, "text/html", _notice("Not possible", "Not possible", str(error)))
        except Exception as error:
            self._send(500, "text/html", _notice("Error", "Error", f"{type(error).__name__}: {error}"))
        else:
            self._send(200, "text/html", _notice("Done", done[0], "\n".join(done[1:]), back=back))

    def _own_host(self) -> bool:
        """Answer only requests addressed to this server by its loopback name: a page whose
        name was rebound to 127.0.0.1 (DNS rebinding) names its own host, and is refused."""
        port = self.server.server_address[1]
        if self.headers.get("Host") in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return True
        self._send(403, "text/html", _notice("Forbidden", "Use http://127.0.0.1 to reach the console"))
        return False

    def _same_origin(self) -> bool:
        """A browser names the page a form was sent from: it must be this server (an absent
        Origin is a client that is not a browser, which the token alone admits)."""
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        port = self.server.server_address[1]
        return origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}")

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


def serve(
    client_factory: ClientFactory, state_machine_arn: str, port: int = 0, *, stack: Any = None
) -> tuple[ViewerServer, str]:
    """Serve the viewer on 127.0.0.1:``port`` (0: any free port) on a daemon thread; with the
    ``stack`` (an ``EmbeddedStack``) its pages also approve, cancel and resume.

    Returns the server (``shutdown()`` then ``server_close()`` it) and its base URL.
    """
    server = ViewerServer(Viewer(client_factory, state_machine_arn, stack), port)
    threading.Thread(target=server.serve_forever, name="saga-viewer", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- the command ---------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt(server: ViewerServer) -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on `kill` as on Ctrl-C
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        server.shutdown()
        server.server_close()


def attached(endpoint: str, port: int, console: str | None = None) -> int:
    """Serve the viewer over the stack at the AWS ``endpoint`` (``stepsaga up``'s)."""
    import botocore.exceptions

    from stepsaga.embedded import EmbeddedStack

    try:
        stack = EmbeddedStack.attach(endpoint)
        server, url = serve(stack.client, stack.state_machine_arn, port, stack=stack)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, KeyError) as error:
        print(f"stepsaga viewer: no stepsaga stack at {endpoint}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        also = f" (stepsaga up's console is {console}/)" if console else ""
        print(f"stepsaga viewer: port {port} is in use{also}: choose --port", file=sys.stderr)
        return 2
    print(f"stepsaga viewer on {url}/ over the stack at {endpoint}  (Ctrl-C to stop)", flush=True)
    _wait_for_interrupt(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stepsaga viewer", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help="the AWS endpoint of a running stack (default: stepsaga up's)")
    where.add_argument("--embedded", action="store_true", help="start an embedded stack of its own")
    args = parser.parse_args(argv)
    if args.endpoint:
        return attached(args.endpoint, args.port)
    if not args.embedded:
        from stepsaga.cli import running

        found = running.read()
        if found is not None:
            return attached(found.endpoint, args.port, found.console)

    from stepsaga.embedded.stack import port_in_use

    if args.port and port_in_use(args.port):  # one line, before the deploy
        print(f"stepsaga viewer: port {args.port} is in use: choose --port", file=sys.stderr)
        return 2
    import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)
    from stepsaga.cli.demo_site import DemoSite, demo_request
    from stepsaga.embedded import EmbeddedStack

    if not args.embedded:  # say so: a private stack shares nothing with the other commands
        print(
            "stepsaga viewer: no running `stepsaga up` found; deploying a private embedded stack with "
            "demo sagas (start `stepsaga up` to see the sagas every tool starts, or pass --embedded)",
            flush=True,
        )
    with DemoSite() as site, EmbeddedStack() as stack:
        request = demo_request(site.url)
        happy = stack.run(request)
        failed = stack.run(request, faults={"Execution": {"mode": "permanent"}})
        # One reviewed saga left waiting at its gate: approve or cancel it from the console.
        stack.start({**request}, machine=catalogue.REVIEWED_TEST_GENERATION.name)
        server, url = serve(stack.client, stack.state_machine_arn, args.port, stack=stack)
        print(f"stepsaga viewer on {url}/  (Ctrl-C to stop)")
        for described in (happy, failed):
            print(f"  {described['status']:<10} {url}/executions/{quote(described['name'])}")
        sys.stdout.flush()
        _wait_for_interrupt(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
