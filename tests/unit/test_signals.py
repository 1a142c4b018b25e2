"""Signals answering an approval gate that may have ended on its own meanwhile."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from functions.control import SagaControl, SagaNotWaiting

pytestmark = pytest.mark.unit


class _Records:
    def __init__(self) -> None:
        self.token: str | None = "token-1"
        self.restored: list[str] = []

    def take_token(self, saga_id: str, status: str, signal: dict) -> str | None:
        token, self.token = self.token, None
        return token

    def restore_token(self, saga_id: str, token: str) -> None:
        self.token = token
        self.restored.append(token)


class _Sfn:
    def __init__(self, code: str) -> None:
        self.code = code

    def describe_execution(self, executionArn: str) -> dict:
        return {"status": "RUNNING"}

    def send_task_success(self, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "m"}}, "SendTaskSuccess")


def _control(code: str, monkeypatch: pytest.MonkeyPatch) -> tuple[SagaControl, _Records]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    records = _Records()
    control = SagaControl("arn:aws:states:us-east-1:1:stateMachine:m", records, None, [])  # type: ignore[arg-type]
    control._sfn = _Sfn(code)
    return control, records


def test_approving_a_gate_that_timed_out_meanwhile_is_not_waiting_and_the_token_stays_spent(monkeypatch):
    control, records = _control("TaskTimedOut", monkeypatch)
    with pytest.raises(SagaNotWaiting, match="no longer waiting"):
        control.approve("s1")
    assert records.restored == [] and records.token is None


def test_a_signal_that_could_not_be_delivered_puts_the_token_back(monkeypatch):
    control, records = _control("ServiceUnavailable", monkeypatch)
    with pytest.raises(ClientError):
        control.approve("s1")
    assert records.restored == ["token-1"]  # the saga still waits; the signal can be resent
