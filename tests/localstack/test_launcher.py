"""stepsaga/localstack.py's bounded start and forceful stop, with a stand-in that never listens
and ignores SIGTERM (as LocalStack sometimes does here): no LocalStack needed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stepsaga import localstack as host

pytestmark = pytest.mark.localstack


@pytest.fixture
def deaf_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.13" / "site-packages" / f"localstack_core-{host.VERSION}.dist-info").mkdir(
        parents=True
    )
    python = venv / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\ntrap '' TERM\nexec sleep 60\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return venv


def test_a_start_that_never_listens_is_killed_and_retried_then_reported(
    deaf_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host, "STOP_SECONDS", 0.2)
    with pytest.raises(host.LocalStackUnavailable) as failed:
        host.start(venv=deaf_venv, scratch=tmp_path, deadline=0.5, attempts=2)
    # Both attempts ran out of time, ignored SIGTERM and were killed (exit -9), not left behind.
    assert str(failed.value).count("exit -9") == 2
    assert len(list(tmp_path.glob("localstack-*.log"))) == 2


def test_no_virtualenv_means_unavailable(tmp_path: Path) -> None:
    assert host.venv_python(tmp_path / "absent") is None
    with pytest.raises(host.LocalStackUnavailable, match="not installed"):
        host.start(venv=tmp_path / "absent")
