"""``stepsaga up`` as a child process, for the tests: started on free ports with a state directory of
its own (a developer's running ``up`` is never touched), stopped with a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stepsaga.cli import running

# Deploying takes ~10 s; synthesizing again (the source changed since the cached synth) ~60 s more.
READY_WITHIN = 300.0


class UpProcess:
    def __init__(self, state_dir: Path, *options: str) -> None:
        self.state_dir = state_dir
        self.options = options or ("--endpoint-port", "0", "--api-port", "0", "--console-port", "0")
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        env["STEPSAGA_STATE_DIR"] = str(self.state_dir)
        env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
        return env

    def output(self) -> str:
        return "".join(
            (self.state_dir / name).read_text(errors="replace")
            for name in ("up.out", "up.err")
            if (self.state_dir / name).exists()
        )

    def start(self) -> running.Running:
        """Start it and wait for its state file; the state it wrote."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "stepsaga", "up"]
        with (self.state_dir / "up.out").open("wb") as out, (self.state_dir / "up.err").open("wb") as err:
            self.process = subprocess.Popen(
                [*command, *self.options], stdout=out, stderr=err, env=self.environment()
            )
        deadline = time.monotonic() + READY_WITHIN
        path = self.state_dir / running.STATE_FILE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stepsaga up exited {self.process.returncode}:\n{self.output()}")
            if path.exists():
                return running.Running(**json.loads(path.read_text()))
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"stepsaga up not ready within {READY_WITHIN} s:\n{self.output()}")

    def stop(self, how: int = signal.SIGINT, timeout: float = 60.0) -> int:
        """Send ``how`` and wait for the exit; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
