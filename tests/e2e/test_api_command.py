"""``stepsaga api`` as a user runs it: a child process whose terminal shows the banner and no
JSON log lines (the functions' logs go to a file unless ``--verbose``), stopped by SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from stepsaga.cli import api_server

pytestmark = pytest.mark.e2e
READY_WITHIN = 300.0  # deploying takes ~10 s; synthesizing again (source changed) ~60 s more


def call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_the_functions_logs_go_to_a_file_and_the_terminal_keeps_the_banner(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env |= {"STEPSAGA_STATE_DIR": str(tmp_path), "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    out_path = tmp_path / "api.out"
    with out_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stepsaga", "api", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + READY_WITHIN
        while not (found := re.search(r"saga API: (http://127\.0\.0\.1:\d+)", out_path.read_text())):
            assert process.poll() is None, out_path.read_text()
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.2)
        api = found.group(1)
        site = re.search(r"demo site \(a target for sagas\): (\S+)", out_path.read_text())
        assert site is not None
        # A rollback that cannot finish: the dead-letter reporter logs an ERROR.
        body = {
            "request": {"project": "acme", "target_url": site.group(1), "user_stories": ["Open / and see x"]},
            "faults": {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}},
        }
        saga_id = call(f"{api}/sagas", body)["saga_id"]
        while (status := call(f"{api}/sagas/{saga_id}"))["status"] == "RUNNING":
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["status"] == "FAILED", status
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0

    printed = out_path.read_text()
    log_file = tmp_path / api_server.LOG_FILE
    assert f"function logs: {log_file}" in printed
    assert '"level"' not in printed and "Traceback" not in printed
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(entry["level"] == "ERROR" and saga_id in json.dumps(entry) for entry in logged), logged
