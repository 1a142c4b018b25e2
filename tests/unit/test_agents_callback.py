"""functions/agents/callback.py: a callback step's heartbeats and the report of its outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.agents.callback import Heartbeat, report
from functions.common.errors import AgentPermanentError, SagaFenced

pytestmark = pytest.mark.unit


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendTask")


class _Sfn:
    """The callback API, recorded; each call raises ``fail_with`` when set."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with = fail_with

    def _call(self, name: str, **arguments: Any) -> None:
        self.calls.append((name, arguments))
        if self.fail_with:
            raise _error(self.fail_with)

    def send_task_heartbeat(self, *, taskToken: str) -> None:
        self._call("heartbeat", taskToken=taskToken)

    def send_task_success(self, *, taskToken: str, output: str) -> None:
        self._call("success", taskToken=taskToken, output=output)

    def send_task_failure(self, *, taskToken: str, error: str, cause: str) -> None:
        self._call("failure", taskToken=taskToken, error=error, cause=cause)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_heartbeat_is_sent_at_most_every_quarter_window() -> None:
    sfn, clock = _Sfn(), _Clock()
    beat = Heartbeat(sfn, "tok", 40, clock=clock)
    beat()  # the first is sent at once
    clock.now += 9.9
    beat()
    clock.now += 0.1  # 10 s: a quarter of the 40 s window
    beat()
    assert [c[1]["taskToken"] for c in sfn.calls] == ["tok", "tok"]


def test_without_a_window_the_default_of_two_minutes_applies() -> None:
    sfn, clock = _Sfn(), _Clock()
    beat = Heartbeat(sfn, "tok", None, clock=clock)
    beat()
    clock.now += 29
    beat()
    clock.now += 1
    beat()
    assert len(sfn.calls) == 2


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_heartbeat_to_a_task_that_is_over_stops_the_agent(code: str) -> None:
    with pytest.raises(SagaFenced, match=code):
        Heartbeat(_Sfn(fail_with=code), "tok", 40)()


def test_any_other_heartbeat_error_is_raised_as_it_is() -> None:
    with pytest.raises(ClientError, match="ThrottlingException"):
        Heartbeat(_Sfn(fail_with="ThrottlingException"), "tok", 40)()


def test_a_failed_heartbeat_is_tried_again_on_the_next_call() -> None:
    sfn, clock = _Sfn(fail_with="ThrottlingException"), _Clock()
    beat = Heartbeat(sfn, "tok", 40, clock=clock)
    with pytest.raises(ClientError):
        beat()
    sfn.fail_with = None
    beat()
    assert len(sfn.calls) == 2


def test_a_result_is_reported_as_the_tasks_json_output() -> None:
    sfn = _Sfn()
    assert report(sfn, "tok", result={"runs": 3}) is True
    [(name, arguments)] = sfn.calls
    assert (name, arguments["taskToken"], json.loads(arguments["output"])) == ("success", "tok", {"runs": 3})


def test_an_error_is_reported_by_its_class_name_with_a_bounded_cause() -> None:
    sfn = _Sfn()
    assert report(sfn, "tok", error=AgentPermanentError("x" * 40_000)) is True
    [(name, arguments)] = sfn.calls
    assert (name, arguments["error"], len(arguments["cause"])) == ("failure", "AgentPermanentError", 32_000)


def test_an_outcome_for_a_task_that_is_over_is_dropped() -> None:
    assert report(_Sfn(fail_with="TaskTimedOut"), "tok", result={}) is False
    assert report(_Sfn(fail_with="InvalidToken"), "tok", error=ValueError("late")) is False


def test_any_other_report_error_is_raised() -> None:
    with pytest.raises(ClientError, match="ThrottlingException"):
        report(_Sfn(fail_with="ThrottlingException"), "tok", result={})
