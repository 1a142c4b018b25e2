"""The ``stepsaga`` command's manners: --version, --help from each parser, one-line errors.
Nothing here deploys a stack: each check ends before a deploy would start."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stepsaga.cli
from stepsaga.cli import COMMANDS, saga


@pytest.fixture(autouse=True)
def no_running_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``stepsaga up`` state file: commands must not attach to a developer's running stack."""
    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("STEPSAGA_ENDPOINT", raising=False)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stepsaga ") and out.split()[1][0].isdigit(), out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help_from_its_parser(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: stepsaga {command}"), out
    assert "-h, --help" in out and "python -m" not in out


def test_a_usage_error_is_an_exit_code_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main(["run", "--no-such-option"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize("saga_id", ["a b", "wow!", "a/b", "x?y#z"])
def test_a_saga_id_is_quoted_in_paths(saga_id: str) -> None:
    path = saga.saga_path(saga_id, "history")
    assert path.startswith("/sagas/") and path.endswith("/history") and path.count("/") == 3
    assert not set(path) & set(" !?#"), path


@pytest.mark.parametrize("command", ["api", "viewer"])
def test_a_busy_port_is_one_line(command: str, busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main([command, "--port", str(busy_port)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"port {busy_port} is in use" in err, err


def test_up_names_a_busy_port(busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main(["up", "--api-port", str(busy_port)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"port {busy_port}" in err, err


# -- saga list, times and colour, against a stand-in for the API ----------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Api:
    """Answers GET /sagas per machine as the API does (newest first), recording the queries."""

    def __init__(self, sagas: dict[str, list[dict[str, Any]]]) -> None:
        self.sagas = sagas
        self.queries: list[dict[str, Any]] = []

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
        query = options.get("query") or {}
        self.queries.append(query)
        assert (method, path) == ("GET", "/sagas")
        found = self.sagas.get(query["machine"], [])
        limit = query["limit"]
        return 200, {"sagas": found[:limit], "next_token": "t0" if len(found) > limit else None}


def _saga(saga_id: str, machine: str, status: str, start: str, stop: str | None) -> dict[str, Any]:
    return {"saga_id": saga_id, "machine": machine, "status": status, "start_date": start, "stop_date": stop}


SAGAS = {
    "test-generation": [
        _saga(
            "saga-0123456789abcdef",
            "test-generation",
            "FAILED",
            "2026-12-04T10:00:03+00:00",
            "2026-12-04T10:00:04.500000+00:00",
        )
    ],
    "reviewed-test-generation": [
        _saga(
            "a-saga-id-chosen-by-a-person",
            "reviewed-test-generation",
            "RUNNING",
            "2026-12-04T10:00:05+00:00",
            None,
        )
    ],
    "parallel-test-generation": [
        _saga(
            "p1",
            "parallel-test-generation",
            "SUCCEEDED",
            "2026-12-04T10:00:01+00:00",
            "2026-12-04T10:00:02+00:00",
        )
    ],
}


def _list(api: _Api, out: io.StringIO, *argv: str) -> str:
    args = saga.parser().parse_args(["list", *argv])
    assert saga.cmd_list(api, args, out) == 0  # type: ignore[arg-type]
    return out.getvalue()


def test_list_spans_every_machine_newest_first_in_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    api = _Api(SAGAS)
    lines = _list(api, io.StringIO()).splitlines()
    monkeypatch.delenv("TZ")
    time.tzset()
    assert {q["machine"] for q in api.queries} == set(saga.MACHINES)
    assert lines[0].split() == ["SAGA", "ID", "MACHINE", "STATUS", "STARTED", "TOOK"]
    assert [line.split()[0][:4] for line in lines[2:]] == ["a-sa", "saga", "p1"]
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "12-04 10:00:03" in lines[3] and lines[3].endswith("1.5 s") and "\033" not in "".join(lines)
    assert "reviewed-test-g… " in lines[2] and lines[2].startswith("a-saga-id-chosen-by-a-person ")


def test_list_pages_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _Api({"test-generation": SAGAS["test-generation"] * 3})
    out = _list(api, io.StringIO(), "--machine", "test-generation", "--limit", "2")
    assert [q["machine"] for q in api.queries] == ["test-generation"]
    assert out.splitlines()[-1] == "more: --next-token t0"


def test_colour_on_a_terminal_only_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\033[31mFAILED" in _list(_Api(SAGAS), _Terminal())
    assert "\033[" not in _list(_Api(SAGAS), io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in _list(_Api(SAGAS), _Terminal())


def test_times_are_local_and_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        assert saga.local_time(1764842400000) == "2025-12-04 11:00:00"  # audit times: epoch ms
        assert saga.local_time("2025-12-04T10:00:00+00:00") == "2025-12-04 11:00:00"
        assert saga.local_time(None) == "-"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_api_banner_names_the_command_and_what_the_local_server_skips() -> None:
    from stepsaga.cli.api_server import banner

    text = banner("http://127.0.0.1:8000", "http://127.0.0.1:8001")
    assert "try: stepsaga saga --endpoint http://127.0.0.1:8000 start " in text and "python -m" not in text
    assert "no SigV4 check" in text and "every sender is recorded as 127.0.0.1" in text


class _Saga:
    """A saga that runs two polls, then fails at Execution with results to show."""

    def __init__(self) -> None:
        self.polls = 0

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
        self.polls += 1
        running = self.polls < 3
        return 200, {
            "saga_id": "s1",
            "status": "RUNNING" if running else "FAILED",
            "current_step": "Execution" if running else None,
            "completed_steps": ["Requirements"],
            "approval_pending": False,
            "failure": None if running else {"step": "Evolution", "error": "Boom", "cause": "why"},
            "results": None
            if running
            else {
                "tests": 3,
                "pass_rate": 2 / 3,
                "failed": 1,
                "failures": [{"test_id": "t3", "name": "pricing", "reason": "text 'X' not found"}],
                "execution_failures": [],
                "proposals": [{"test_id": "t3", "change": "investigate", "rationale": "flaky"}],
            },
        }


def test_wait_is_a_live_coloured_line_on_a_terminal_and_plain_lines_when_piped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    saga.wait(_Saga(), "s1", timeout=10, interval=0, out=terminal)  # type: ignore[arg-type]
    assert terminal.getvalue().count("\r\033[K") == 3 and "\033[31mFAILED\033[0m after" in terminal.getvalue()
    piped = io.StringIO()
    saga.wait(_Saga(), "s1", timeout=10, interval=0, out=piped)  # type: ignore[arg-type]
    lines = piped.getvalue().splitlines()
    assert lines[0].startswith("s1: RUNNING at Execution") and lines[-1].startswith("s1: FAILED after ")
    assert "\033" not in piped.getvalue() and "\r" not in piped.getvalue()


def test_start_wait_ends_with_the_failure_and_what_the_saga_found(monkeypatch: pytest.MonkeyPatch) -> None:
    class Started(_Saga):
        def call(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
            if method == "POST":
                return 201, {"saga_id": "s1", "machine": "test-generation", "status": "RUNNING"}
            return super().call(method, path, body, **options)

    out = io.StringIO()
    args = saga.parser().parse_args(["start", "--project", "p", "--target-url", "http://x/", "--story", "s"])
    args.wait, args.interval = True, 0
    assert saga.cmd_start(Started(), args, out) == 1  # type: ignore[arg-type]
    tail = out.getvalue().splitlines()[-4:]
    assert tail == [
        "failed step:    Evolution: Boom: why",
        "pass rate:      67% (2 of 3 tests passed)",
        "failed test:    t3 pricing: text 'X' not found",
        "proposal:       t3: investigate (flaky)",
    ], out.getvalue()


def test_start_wait_says_when_the_rollback_itself_failed_and_what_to_do() -> None:
    class RollbackFailed(_Saga):
        def call(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
            if method == "POST":
                return 201, {"saga_id": "s1", "machine": "test-generation", "status": "RUNNING"}
            code, status = super().call(method, path, body, **options)
            if status["status"] == "FAILED":
                status["results"] = None
                status["outcome"] = {"error": "CompensationFailed", "cause": "A compensation kept failing."}
            return code, status

    out = io.StringIO()
    args = saga.parser().parse_args(["start", "--project", "p", "--target-url", "http://x/", "--story", "s"])
    args.wait, args.interval = True, 0
    assert saga.cmd_start(RollbackFailed(), args, out) == 1  # type: ignore[arg-type]
    assert out.getvalue().splitlines()[-3:] == [
        "failed step:    Evolution: Boom: why",
        "error:          CompensationFailed A compensation kept failing.",
        "next:           fix the cause, then: stepsaga saga resume s1",
    ], out.getvalue()


@pytest.mark.parametrize("command", [["status", ""], ["history", " "], ["approve", ""]])
def test_an_empty_saga_id_is_one_line_before_any_request(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert saga.main(["--endpoint", "http://127.0.0.1:9", *command]) == 1  # as every refused command
    assert capsys.readouterr().err.strip().endswith("a saga id must not be empty")


def test_cost_prices_the_multi_project_parent(capsys: pytest.CaptureFixture[str]) -> None:
    assert stepsaga.cli.main(["cost", "--saga", "multi-project", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["saga"] == "multi-project" and report["steps"] == ["RunProjectSagas", "SummariseProjects"]
    assert any(p["name"] == "happy" and p["status"] == "SUCCEEDED" for p in report["paths"]), report


# -- start: a parent saga (multi-project) from flags or a file --------------------------------------
def _body(*argv: str) -> dict[str, Any]:
    return saga._start_body(saga.parser().parse_args(["start", *argv]))


def test_start_a_parent_from_repeated_projects_sharing_target_and_stories() -> None:
    body = _body(
        *("--machine", "multi-project", "--project", "web", "--project", "shop"),
        *("--target-url", "http://x/", "--story", "s1", "--story", "s2"),
    )
    shared = {"target_url": "http://x/", "user_stories": ["s1", "s2"]}
    assert body == {
        "machine": "multi-project",
        "projects": [{"request": {"project": "web", **shared}}, {"request": {"project": "shop", **shared}}],
    }
    single = _body("--project", "web", "--target-url", "http://x/", "--story", "s1")
    assert single == {"request": {"project": "web", "target_url": "http://x/", "user_stories": ["s1"]}}


def test_several_projects_need_the_parent_machine() -> None:
    with pytest.raises(
        saga.CliError,
        match=r"--project given 2 times: a saga runs one project \(several run with --machine multi-",
    ):
        _body("--project", "a", "--project", "b", "--target-url", "http://x/", "--story", "s")


def test_a_projects_file_is_sent_whole_and_never_mixed_with_flags(tmp_path: Path) -> None:
    document = {"machine": "multi-project", "projects": [{"request": {"project": "a"}}]}
    path = tmp_path / "projects.json"
    path.write_text(json.dumps(document))
    assert _body("--file", str(path)) == document
    with pytest.raises(
        saga.CliError, match="--file holds the whole request: drop --project, --story or --file"
    ):
        _body("--file", str(path), "--project", "b", "--story", "s")


def test_a_parents_status_shows_its_children_and_summary() -> None:
    status = {
        "saga_id": "m1",
        "machine": "multi-project",
        "status": "FAILED",
        "children": [
            {"saga_id": "m1-p0", "project": "web", "status": "SUCCEEDED"},
            {"saga_id": "m1-p1", "project": "shop", "status": "FAILED", "error": "SagaRolledBack"},
        ],
        "summary": {"succeeded_count": 1, "failed_count": 1, "failed": ["m1-p1"], "to_compensate": ["m1-p0"]},
        "outcome": {"status": "FAILED", "error": "SagaRolledBack", "cause": "A project's saga failed"},
    }
    assert saga.render_status(status).splitlines() == [
        "saga:           m1 (multi-project)",
        "status:         FAILED",
        "child:          m1-p0 (web) SUCCEEDED",
        "child:          m1-p1 (shop) FAILED SagaRolledBack",
        "summary:        1 succeeded, 1 failed; compensated: m1-p0",
        "error:          SagaRolledBack A project's saga failed",
    ]
    running = {**status, "status": "RUNNING", "children": [{**status["children"][0], "status": "RUNNING"}]}
    assert saga._progress(running, 1.0) == "m1: RUNNING, 0 of 1 child sagas ended, 1.0 s"


def test_resume_waits_for_the_rollback_and_status_shows_it() -> None:
    arn = "arn:aws:states:us-east-1:1:execution:S-test-generation-rollback:s1"

    class Resumed:
        """POST resume answers a running rollback; the status shows it running, then done."""

        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def call(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
            self.calls.append((method, path))
            rollback = {"execution_arn": arn, "status": "RUNNING" if len(self.calls) < 3 else "SUCCEEDED"}
            if method == "POST":
                return 202, {"saga_id": "s1", "machine": "test-generation", "rollback": rollback}
            return 200, {"saga_id": "s1", "status": "FAILED", "rollback": rollback}

    client, out = Resumed(), io.StringIO()
    args = saga.parser().parse_args(["resume", "s1", "--wait", "--interval", "0"])
    assert saga.cmd_resume(client, args, out) == 0  # type: ignore[arg-type]
    assert client.calls == [("POST", "/sagas/s1/resume"), ("GET", "/sagas/s1"), ("GET", "/sagas/s1")]
    lines = out.getvalue().splitlines()
    assert lines[0] == f"resume: s1: rollback RUNNING {arn}"
    assert lines[1].startswith("rollback: SUCCEEDED after ")

    failed = {"saga_id": "s1", "status": "FAILED", "outcome": {"error": "CompensationFailed"}}
    shown = {**failed, "rollback": {"execution_arn": arn, "status": "FAILED", "error": "CompensationFailed"}}
    assert f"rollback:       FAILED (CompensationFailed) {arn}" in saga.render_status(shown).splitlines()
    # Once a rollback ran, --wait's ending shows it rather than suggesting another resume.
    assert (
        saga.render_end({**shown, "results": None})[-1]
        == f"rollback:       FAILED (CompensationFailed) {arn}"
    )


def test_an_audit_value_is_one_short_line_and_json_keeps_it_whole() -> None:
    trace = "AgentPermanentError: boom\nTraceback (most recent call last):\n  File x, line 1"
    assert saga.brief(trace) == "AgentPermanentError: boom …"
    assert saga.brief("x" * 300) == "x" * 99 + "…"
    assert saga.brief({"a": 1}) == '{"a": 1}' and saga.brief(3) == "3"
