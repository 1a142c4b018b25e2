"""``stepsaga saga``: start, list, inspect and steer sagas through the HTTP API.

    stepsaga saga start --project acme --target-url https://acme.example --story "..." --wait
    stepsaga saga start --file request.json --key my-retry-safe-key
    stepsaga saga start --machine multi-project --project web --project shop \\
        --target-url https://acme.example --story "..." --wait
    stepsaga saga list --status RUNNING
    stepsaga saga status <saga-id>
    stepsaga saga history <saga-id>
    stepsaga saga approve <saga-id>
    stepsaga saga cancel <saga-id> --reason "wrong project"
    stepsaga saga priority <saga-id> high
    stepsaga saga resume <saga-id> --wait

It talks HTTP to the API (``--endpoint``, default ``$STEPSAGA_ENDPOINT``, else the API of a
running ``stepsaga up``, else http://127.0.0.1:8000 as ``stepsaga api`` serves it), so it works the
same against the local server, LocalStack's API Gateway or AWS; ``--aws-profile`` signs
every request with SigV4 (the API's methods use IAM auth). Errors are one line on stderr
and a non-zero exit: 1 for a refused request or an unreachable API, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, get_args
from urllib.parse import quote, urlencode, urlsplit

from functions.common.names import (
    API_MACHINES,
    COMPENSATION_FAILED,
    PARENT_MACHINES,
    ExecutionStatus,
    FaultMode,
)
from stepsaga.cli.history import table as history_table

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
MACHINES = API_MACHINES
STATUSES = get_args(ExecutionStatus)
FAULT_MODES = get_args(FaultMode)


def default_endpoint() -> str:
    """``$STEPSAGA_ENDPOINT``, else the API of a running ``stepsaga up``, else DEFAULT_ENDPOINT."""
    from stepsaga.cli import running

    found = running.read()
    return os.environ.get("STEPSAGA_ENDPOINT") or (found.api if found else DEFAULT_ENDPOINT)


class CliError(Exception):
    """A request the API refused, or one that could not be made: one line for the user."""


class Client:
    """HTTP to the saga API; SigV4-signed (``execute-api``) when ``sign`` or a ``profile`` is given."""

    def __init__(
        self,
        endpoint: str,
        *,
        profile: str | None = None,
        region: str | None = None,
        sign: bool = False,
        timeout: float = 30,
    ) -> None:
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise CliError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._signer = _signer(profile, region) if (profile or sign) else None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON answer) for any status; raises CliError only when no answer came."""
        url = self.endpoint + path
        if query := {k: v for k, v in (query or {}).items() if v is not None}:
            url += "?" + urlencode(query)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        if self._signer is not None:
            all_headers = self._signer(method, url, data, all_headers)
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())
        except urllib.error.URLError as error:
            hint = " (is `stepsaga up` or `stepsaga api` running?)" if _local(self.endpoint) else ""
            raise CliError(f"cannot reach {self.endpoint}: {error.reason}{hint}") from None
        except TimeoutError:
            raise CliError(f"no answer from {self.endpoint} within {self.timeout:g} s") from None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Like ``request``, but an error answer raises CliError with its one-line message."""
        status, answer = self.request(method, path, body, query=query, headers=headers)
        if status >= 400:
            if isinstance(answer, dict) and "message" in answer:
                code = answer.get("error") or answer.get("__type") or f"HTTP {status}"
                raise CliError(f"{code} ({status}): {answer['message']}")
            raise CliError(f"HTTP {status} from {self.endpoint}{path}")
        return status, answer


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"message": raw.decode(errors="replace")[:200]}


def _signer(profile: str | None, region: str | None) -> Any:
    """SigV4 for API Gateway (``execute-api``) with a profile's credentials (None: the default chain)."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError

    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
        signing_region = region or session.get_config_variable("region") or "us-east-1"
    except BotoCoreError as error:
        raise CliError(f"--aws-profile {profile}: {error}") from None
    if credentials is None:
        raise CliError(f"--aws-profile {profile or '(default)'}: no AWS credentials found")

    def sign(method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", signing_region).add_auth(request)
        return dict(request.headers.items())

    return sign


def _local(endpoint: str) -> bool:
    return urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")


def saga_path(saga_id: str, *rest: str) -> str:
    """``/sagas/<id>[/rest]`` with the id quoted: a space or ``!`` is the API's to refuse, not urllib's."""
    if not saga_id.strip():  # "/sagas/" would be the list route: refuse before any request
        raise CliError("a saga id must not be empty")
    return "/".join(("/sagas", quote(saga_id, safe=""), *rest))


# -- output ------------------------------------------------------------------------------------
WIDTH = 80  # what ``list`` fits in, as a terminal's default
STATUS_COLOURS = {"SUCCEEDED": "32", "RUNNING": "33", "FAILED": "31", "TIMED_OUT": "31", "ABORTED": "31"}


def coloured(out: TextIO) -> bool:
    """Colour only for a person at a terminal who has not asked for none (https://no-color.org)."""
    return out.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, status: str, on: bool) -> str:
    """``text`` in the colour of a saga ``status`` (green done, yellow running, red failed)."""
    code = STATUS_COLOURS.get(status.strip())
    return f"\033[{code}m{text}\033[0m" if on and code else text


def local_time(moment: Any, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An ISO timestamp or epoch milliseconds as this machine's local time ("-" for none)."""
    if moment is None or moment == "":
        return "-"
    try:
        if isinstance(moment, int | float) or str(moment).isdigit():
            when = datetime.fromtimestamp(int(moment) / 1000, tz=UTC)
        else:
            when = datetime.fromisoformat(str(moment))
    except (ValueError, OverflowError, OSError):
        return str(moment)
    if when.tzinfo is None:  # the API answers in UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime(form)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def table(
    rows: Sequence[tuple[str, ...]],
    right: tuple[int, ...] = (),
    *,
    fit: int | None = None,
    shrink: tuple[int, ...] = (),
    status_column: int | None = None,
    colour: bool = False,
) -> str:
    """Aligned columns under a rule. With ``fit``, the ``shrink`` columns (in that order) are cut
    with an ellipsis until a line fits; ``status_column`` is painted when ``colour``."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if fit is not None:
        for column in shrink:
            excess = sum(widths) + 2 * (len(widths) - 1) - fit
            if excess <= 0:
                break
            widths[column] = max(widths[column] - excess, len(rows[0][column]), 12)  # a telling prefix
    lines = []
    for index, row in enumerate(rows):
        cells = [shorten(c, widths[i]) for i, c in enumerate(row)]
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        if index and status_column is not None:
            cells[status_column] = paint(cells[status_column], row[status_column], colour)
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_history(events: list[dict[str, Any]]) -> str:
    """The API's history rows as the console's table (the one ``stepsaga run`` prints)."""
    return history_table(events)


def render_children(status: dict[str, Any], colour: bool = False) -> list[str]:
    """A parent's children (one saga per project) and, once it has ended, its summary."""
    lines = [
        f"child:          {c['saga_id']} ({c.get('project') or '?'}) "
        + paint(c["status"], c["status"], colour)
        + (f" {c['error']}" if c.get("error") else "")
        for c in status.get("children") or []
    ]
    summary = status.get("summary")
    if summary:
        counts = f"{summary.get('succeeded_count')} succeeded, {summary.get('failed_count')} failed"
        lines.append(
            f"summary:        {counts}"
            + (
                f"; compensated: {', '.join(summary['to_compensate'])}"
                if summary.get("to_compensate")
                else ""
            )
        )
    return lines


def render_status(status: dict[str, Any], colour: bool = False) -> str:
    if "children" in status:  # a parent: its children are its steps
        lines = [
            f"saga:           {status['saga_id']} ({status.get('machine', '?')})",
            f"status:         {paint(status['status'], status['status'], colour)}",
            *render_children(status, colour),
        ]
        outcome = status.get("outcome")
        if outcome and (outcome.get("error") or outcome.get("cause")):
            lines.append(
                f"error:          {outcome.get('error') or ''} {outcome.get('cause') or ''}".rstrip()
            )
        return "\n".join(lines)
    lines = [
        f"saga:           {status['saga_id']} ({status.get('machine', '?')})",
        f"status:         {paint(status['status'], status['status'], colour)}",
        f"current step:   {status.get('current_step') or '-'}",
        f"completed:      {', '.join(status.get('completed_steps') or []) or '-'}",
        f"priority:       {status.get('priority', 'normal')}",
        f"approval:       {'pending' if status.get('approval_pending') else '-'}",
    ]
    exists = status.get("exists_now") or {}
    if exists:
        lines.append(
            "data now:       "
            + "; ".join(
                f"{step}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "status")
                for step, counts in exists.items()
                if len(counts) > 1
            )
        )
    failure = status.get("failure")
    if failure:
        why = ": ".join(str(failure[k]) for k in ("error", "cause") if failure.get(k))
        lines.append(f"failed step:    {failure.get('step') or '?'}{': ' + why if why else ''}")
    outcome = status.get("outcome")
    if outcome and (outcome.get("error") or outcome.get("cause")):
        lines.append(f"error:          {outcome.get('error') or ''} {outcome.get('cause') or ''}".rstrip())
    lines += render_rollback(status.get("rollback"))
    lines += render_results(status.get("results"))
    for signal in status.get("signals") or []:
        extra = signal.get("reason") or signal.get("comment") or signal.get("priority") or ""
        at = f" at {local_time(signal['at'])}" if signal.get("at") else ""
        lines.append(
            f"signal:         {signal.get('signal')} by {signal.get('by', '?')} {extra}".rstrip() + at
        )
    return "\n".join(lines)


def render_rollback(rollback: dict[str, Any] | None) -> list[str]:
    """The saga's rollback execution (a resume's, or its parent's), once one has started."""
    if not rollback:
        return []
    error = f" ({rollback['error']})" if rollback.get("error") else ""
    return [f"rollback:       {rollback['status']}{error} {rollback['execution_arn']}"]


def render_results(results: dict[str, Any] | None) -> list[str]:
    """What the saga found: pass rate, each failed test and why, each proposal."""
    if not results:
        return []
    tests, failed = results["tests"], results["failed"]
    lines = [f"pass rate:      {results['pass_rate']:.0%} ({tests - failed} of {tests} tests passed)"]
    lines += [f"failed test:    {f['test_id']} {f['name']}: {f['reason']}" for f in results["failures"]]
    if failed > len(results["failures"]):
        lines.append(f"                ... and {failed - len(results['failures'])} more (--json)")
    lines += [
        f"not run:        {test_id} (its execution failed)" for test_id in results["execution_failures"]
    ]
    lines += [
        f"proposal:       {p['test_id']}: {p['change']}"
        + (f" -> {p['suggestion']!r}" if p.get("suggestion") else "")
        + f" ({p['rationale']})"
        for p in results["proposals"]
    ]
    return lines


def render_end(status: dict[str, Any]) -> list[str]:
    """What ``--wait`` adds once the saga has ended: why it failed, then what it found (a
    parent: each child and the summary)."""
    if "children" in status:
        return render_children(status)
    lines = []
    failure = status.get("failure")
    if failure:
        why = ": ".join(str(failure[k]) for k in ("error", "cause") if failure.get(k))
        lines.append(f"failed step:    {failure.get('step') or '?'}{': ' + why if why else ''}")
    outcome = status.get("outcome") or {}
    if outcome.get("error") == COMPENSATION_FAILED:  # not a clean rollback: say so, and what next
        lines.append(f"error:          {outcome['error']} {outcome.get('cause') or ''}".rstrip())
        if status.get("rollback"):
            lines += render_rollback(status["rollback"])
        else:
            lines.append(f"next:           fix the cause, then: stepsaga saga resume {status['saga_id']}")
    return lines + render_results(status.get("results"))


# -- commands -----------------------------------------------------------------------------------
def _start_body(args: argparse.Namespace) -> dict[str, Any]:
    parent = args.machine in PARENT_MACHINES
    if args.file:
        # A request comes whole from the file or from the flags: mixing them would drop some.
        given = [
            flag
            for flag, value in (
                ("--project", args.project),
                ("--target-url", args.target_url),
                ("--story", args.story),
            )
            if value
        ]
        if given:
            raise CliError(f"--file holds the whole request: drop {', '.join(given)} or --file")
        try:
            document = json.loads(Path(args.file).read_text())
        except (OSError, ValueError) as error:
            raise CliError(f"--file {args.file}: {error}") from None
        if not isinstance(document, dict):
            raise CliError(f"--file {args.file}: expected a JSON object")
        body = dict(document) if {"request", "projects"} & set(document) else {"request": document}
    else:
        missing = [
            flag
            for flag, value in (
                ("--project", args.project),
                ("--target-url", args.target_url),
                ("--story", args.story),
            )
            if not value
        ]
        if missing:
            raise CliError(f"start needs --file or {', '.join(missing)}")

        def request(project: str) -> dict[str, Any]:
            return {"project": project, "target_url": args.target_url, "user_stories": args.story}

        if parent:  # one child saga per --project, each with the shared target and stories
            body = {"projects": [{"request": request(project)} for project in args.project]}
        elif len(args.project) > 1:
            raise CliError(
                f"--project given {len(args.project)} times: a saga runs one project "
                f"(several run with --machine {' or '.join(PARENT_MACHINES)})"
            )
        else:
            body = {"request": request(args.project[0])}
    if args.fault:
        faults = dict(body.get("faults") or {})
        for spec in args.fault:
            state, _, mode = spec.partition("=")
            if not state or mode not in FAULT_MODES:
                raise CliError(
                    f"--fault {spec!r}: expected STATE=MODE with MODE one of {', '.join(FAULT_MODES)}"
                )
            faults[state] = {"mode": mode}
        body["faults"] = faults
    if args.machine:
        body["machine"] = args.machine
    return body


def cmd_start(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    body = _start_body(args)
    key = args.key or f"saga-{uuid.uuid4().hex[:16]}"
    code, saga = client.call("POST", "/sagas", body, headers={"Idempotency-Key": key})
    if args.json and not args.wait:
        print(json.dumps(saga, indent=2), file=out)
        return 0
    verb = "started" if code == 201 else "already started (same Idempotency-Key)"
    print(f"{verb}: {saga['saga_id']} on {saga['machine']} ({saga['status']})", file=out)
    if not args.wait:
        return 0
    status = wait(client, saga["saga_id"], args.timeout, args.interval, out)
    if args.json:
        print(json.dumps(status, indent=2), file=out)
    elif end := render_end(status):
        print("\n".join(end), file=out)
    return 0 if status["status"] == "SUCCEEDED" else 1


def _progress(status: dict[str, Any], elapsed: float, colour: bool = False) -> str:
    if status["status"] != "RUNNING":
        return (
            f"{status['saga_id']}: {paint(status['status'], status['status'], colour)} after {elapsed:.1f} s"
        )
    if "children" in status:  # a parent: how many of its children have ended
        children = status["children"]
        ended = sum(c["status"] not in ("RUNNING", "NOT_STARTED") for c in children)
        return f"{status['saga_id']}: RUNNING, {ended} of {len(children)} child sagas ended, {elapsed:.1f} s"
    done = len(status.get("completed_steps") or [])
    where = status.get("current_step") or "-"
    note = (
        " (waiting for approval: stepsaga saga approve " + status["saga_id"] + ")"
        if status.get("approval_pending")
        else ""
    )
    return f"{status['saga_id']}: RUNNING at {where}, {done} step(s) done, {elapsed:.1f} s{note}"


def wait(client: Client, saga_id: str, timeout: float, interval: float, out: TextIO) -> dict[str, Any]:
    """Poll the saga until it ends: one progress line, rewritten in place on a terminal, else
    printed again whenever the saga moves (state, step or approval)."""
    started = time.monotonic()
    live = out.isatty()
    colour = coloured(out)
    seen: tuple[Any, ...] = ()
    while True:
        _, status = client.call("GET", saga_path(saga_id))
        elapsed = time.monotonic() - started
        line = _progress(status, elapsed, colour)
        running = status["status"] == "RUNNING"
        moved = (
            status["status"],
            status.get("current_step"),
            status.get("approval_pending"),
            [c["status"] for c in status.get("children") or []],
        )
        if live:
            print("\r\033[K" + line, end="" if running else "\n", file=out, flush=True)
        elif moved != seen:
            print(line, file=out, flush=True)
        seen = moved
        if not running:
            return dict(status)
        if elapsed > timeout:
            if live:
                print(file=out)
            raise CliError(f"{saga_id} still RUNNING after {timeout:g} s (it keeps running)")
        time.sleep(interval)


def cmd_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """One machine's page (``--machine``, pageable), or the newest sagas of every machine."""
    machines = [args.machine] if args.machine else list(MACHINES)
    if args.next_token and not args.machine:
        raise CliError("--next-token pages one machine's sagas: add the --machine it came from")
    sagas: list[dict[str, Any]] = []
    token = None  # the next page of one machine's sagas
    left_out = False  # older sagas of some machine not shown
    for machine in machines:
        query = {
            "machine": machine,
            "status": args.status,
            "limit": args.limit,
            "next_token": args.next_token,
        }
        _, page = client.call("GET", "/sagas", query=query)
        sagas += page["sagas"]
        token = page.get("next_token")
        left_out = left_out or bool(token)
    sagas.sort(key=lambda s: s.get("start_date") or "", reverse=True)
    left_out = left_out or len(sagas) > args.limit
    sagas = sagas[: args.limit]
    if args.json:
        print(json.dumps({"sagas": sagas, "next_token": token if args.machine else None}, indent=2), file=out)
        return 0
    rows = [("SAGA ID", "MACHINE", "STATUS", "STARTED", "TOOK")]
    rows += [
        (s["saga_id"], s["machine"], s["status"], local_time(s["start_date"], "%m-%d %H:%M:%S"), _took(s))
        for s in sagas
    ]
    # The machine column gives way to fit; a saga id never does: it is what every other command takes.
    listing = table(rows, right=(4,), fit=WIDTH, shrink=(1,), status_column=2, colour=coloured(out))
    print(listing if sagas else "no sagas", file=out)
    if args.machine and token:
        print(f"more: --next-token {token}", file=out)
    elif left_out and not args.machine:
        print("more: older sagas; page one machine's with --machine M (then --next-token)", file=out)
    return 0


def _took(saga: dict[str, Any]) -> str:
    """How long the saga ran ("-" while it runs)."""
    try:
        start = datetime.fromisoformat(saga["start_date"])
        stop = datetime.fromisoformat(saga["stop_date"])
    except (KeyError, TypeError, ValueError):
        return "-"
    seconds = (stop - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def cmd_status(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    _, status = client.call("GET", saga_path(args.saga_id), query={"machine": args.machine})
    print(json.dumps(status, indent=2) if args.json else render_status(status, coloured(out)), file=out)
    return 0


def cmd_history(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        _, page = client.call(
            "GET",
            saga_path(args.saga_id, "history"),
            query={"machine": args.machine, "limit": 1000, "next_token": token},
        )
        events += page["events"]
        token = page.get("next_token")
        if not token:
            break
    if args.json:
        print(json.dumps(events, indent=2), file=out)
    else:
        print(f"{args.saga_id}: {page['status']}", file=out)
        print(render_history(events), file=out)
    return 0


BRIEF = 100  # characters of one audit value on a line; --json has them whole


def brief(value: Any) -> str:
    """One audit value on one line: a cause with a stack trace keeps its first line, cut short."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    lines = text.strip().splitlines() or [""]
    first = lines[0]
    if len(first) > BRIEF:
        return first[: BRIEF - 1] + "…"
    return first + (" …" if len(lines) > 1 else "")


def cmd_audit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    _, page = client.call("GET", saga_path(args.saga_id, "audit"))
    if args.json:
        print(json.dumps(page["events"], indent=2), file=out)
        return 0
    for event in page["events"]:
        details = {k: v for k, v in event.items() if k not in ("id", "type", "at")}
        detail = ", ".join(f"{k}={brief(v)}" for k, v in details.items())
        print(f"{local_time(event.get('at', event['id']))}  {event['type']:<20} {detail}", file=out)
    return 0


def _signal(client: Client, args: argparse.Namespace, out: TextIO, name: str, body: dict[str, Any]) -> int:
    _, answer = client.call("POST", saga_path(args.saga_id, name), body, query={"machine": args.machine})
    if args.json:
        print(json.dumps(answer, indent=2), file=out)
    else:
        extra = answer.get("reason") or answer.get("comment") or answer.get("priority")
        print(f"{answer['signal']}: {answer['saga_id']}" + (f" ({extra})" if extra else ""), file=out)
    return 0


def cmd_approve(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _signal(client, args, out, "approve", {"comment": args.comment} if args.comment else {})


def cmd_cancel(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _signal(client, args, out, "cancel", {"reason": args.reason})


def cmd_priority(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _signal(client, args, out, "priority", {"priority": args.priority})


def cmd_resume(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """Start the saga's rollback (or find the one a resume started); ``--wait`` for its end."""
    _, answer = client.call("POST", saga_path(args.saga_id, "resume"), query={"machine": args.machine})
    rollback = answer["rollback"]
    if not args.json:
        print(
            f"resume: {answer['saga_id']}: rollback {rollback['status']} {rollback['execution_arn']}",
            file=out,
        )
    started = time.monotonic()
    while args.wait and rollback["status"] == "RUNNING":
        if time.monotonic() - started > args.timeout:
            raise CliError(
                f"the rollback of {args.saga_id} still RUNNING after {args.timeout:g} s (it keeps running)"
            )
        time.sleep(args.interval)
        _, status = client.call("GET", saga_path(args.saga_id), query={"machine": answer["machine"]})
        rollback = status["rollback"]
        if rollback["status"] != "RUNNING" and not args.json:
            print(f"rollback: {rollback['status']} after {time.monotonic() - started:.1f} s", file=out)
    if args.json:
        print(json.dumps({**answer, "rollback": rollback}, indent=2), file=out)
    return 0 if rollback["status"] in ("RUNNING", "SUCCEEDED") else 1


def _options(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (after: no defaults, so a
    value given before the name is kept)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        default=default(default_endpoint()),
        help=f"base URL of the saga API (default $STEPSAGA_ENDPOINT, stepsaga up's, or {DEFAULT_ENDPOINT})",
    )
    common.add_argument(
        "--aws-profile",
        default=default(None),
        help="sign requests with SigV4 using this AWS profile (IAM auth)",
    )
    common.add_argument(
        "--region", default=default(None), help="SigV4 signing region (default: the profile's)"
    )
    common.add_argument(
        "--json", action="store_true", default=default(False), help="print the API's JSON answer"
    )
    return common


def parser() -> argparse.ArgumentParser:
    common = _options(suppress=True)
    top = argparse.ArgumentParser(
        prog="stepsaga saga",
        description="Start, list, inspect and steer sagas through the HTTP API.",
        epilog=__doc__.split("\n\n", 1)[1].replace("``", "`"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_options(suppress=False)],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, run: Any, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        sub.set_defaults(run=run)
        return sub

    def saga_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("saga_id", help="the saga id (its Idempotency-Key)")
        sub.add_argument(
            "--machine", choices=MACHINES, help="the saga's state machine (found by id if omitted)"
        )

    start = command("start", cmd_start, "start a saga (retry-safe: same --key, same saga)")
    start.add_argument(
        "--file",
        help="JSON file: {request, faults?, machine?}, just the request, or a parent's "
        '{"machine": "multi-project", "projects": [{"request": ...}, ...]} '
        "(never with --project, --target-url or --story)",
    )
    start.add_argument(
        "--project",
        action="append",
        help="the project; with --machine multi-project repeat it, one child saga per project, "
        "each with the same --target-url and --story",
    )
    start.add_argument("--target-url")
    start.add_argument("--story", action="append", help="a user story (repeat for several)")
    start.add_argument("--machine", choices=MACHINES, help="the state machine (default test-generation)")
    start.add_argument(
        "--fault", action="append", metavar="STATE=MODE", help="inject a fault (test deployments)"
    )
    start.add_argument("--key", help="Idempotency-Key, [A-Za-z0-9_-]{1,64} (default: a new one)")
    start.add_argument("--wait", action="store_true", help="wait for the end, showing progress")
    start.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    start.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")

    listing = command("list", cmd_list, "the newest sagas of every machine (or one --machine's)")
    listing.add_argument("--machine", choices=MACHINES)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=int, default=20, help="sagas shown (default 20)")
    listing.add_argument("--next-token")

    saga_id(command("status", cmd_status, "where a saga is"))
    saga_id(command("history", cmd_history, "a saga's execution history, console-style"))
    command("audit", cmd_audit, "a saga's audit record (kept after the history expires)").add_argument(
        "saga_id", help="the saga id (its Idempotency-Key)"
    )
    approve = command("approve", cmd_approve, "approve a saga waiting for approval")
    saga_id(approve)
    approve.add_argument("--comment")
    cancel = command("cancel", cmd_cancel, "cancel a saga waiting for approval (it rolls back)")
    saga_id(cancel)
    cancel.add_argument("--reason", required=True)
    priority = command("priority", cmd_priority, "set a running saga's priority")
    saga_id(priority)
    priority.add_argument("priority", choices=("low", "normal", "high"))
    resume = command(
        "resume",
        cmd_resume,
        "finish the rollback of a saga that ended CompensationFailed, once its cause is fixed: "
        "runs its rollback machine without the saga's injected faults (idempotent)",
    )
    saga_id(resume)
    resume.add_argument("--wait", action="store_true", help="wait for the rollback's end")
    resume.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    resume.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    return top


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # argparse printed its usage line
        return int(exit_.code or 0)
    try:
        client = Client(args.endpoint, profile=args.aws_profile, region=args.region)
        return int(args.run(client, args, out))
    except CliError as error:
        print(f"stepsaga saga {args.command}: {error}", file=err)
        return 1
    except KeyboardInterrupt:
        print(file=err)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 141


if __name__ == "__main__":
    sys.exit(main())
