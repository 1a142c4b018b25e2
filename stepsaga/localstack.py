"""LocalStack on this host, without Docker: its own virtualenv, a bounded start, a stop by pid.

    python -m stepsaga.localstack install                 # into .localstack-venv (needs Python 3.13)
    python -m stepsaga.localstack run [--port 4566] [--mock-config mocks.json]   # until Ctrl-C

``localstack-core`` 4.14.0 (the last release that needs no auth token) runs on the host on
Python 3.13 (under 3.11 it fails), in its own virtualenv, pinned by LocalStack's own runtime
constraints (``.ci/localstack-constraints.txt``).
Step Functions, S3, SQS, SNS, SSM, CloudFormation and API Gateway work there; DynamoDB
(a Java jar) and Lambda (a runtime in Docker) do not, so Lambda-backed states run against
mocked responses (``SFN_MOCK_CONFIG``, see ``statemachines.tools.mocks``).

A start is bounded: the health endpoint must answer before a deadline, and a start that
printed ``Ready.`` but never listened (about one in eight here) is killed and retried.
A stop sends SIGTERM to the process group LocalStack leads, then SIGKILL: about one
SIGTERM in four hangs. Nothing here binds anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".localstack-venv"
CONSTRAINTS = ROOT / ".ci" / "localstack-constraints.txt"
VERSION = "4.14.0"
# The machine image's pyenv interpreter, called directly (its python3.13 shim refuses to run).
PYENV_PYTHON = Path("/root/.pyenv/versions/3.13.0/bin/python3.13")
SERVICES = "stepfunctions,s3,sqs,sns,ssm,cloudformation,apigateway,events,sts,iam"
REGION = "us-east-1"
START_SECONDS = 20.0
STOP_SECONDS = 5.0


class LocalStackUnavailable(RuntimeError):
    """LocalStack cannot run here (no Python 3.13 or no virtualenv) or did not start."""


def python313() -> str | None:
    """A Python 3.13 interpreter that actually runs (a pyenv shim may refuse to)."""
    candidates = [str(PYENV_PYTHON), shutil.which("python3.13")]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return candidate
    return None


def install(venv: Path = VENV) -> str:
    """Install LocalStack into ``venv`` unless it is there; what happened, in one line."""
    if venv_python(venv) is not None:
        return f"LocalStack is installed in {venv}"
    python = python313()
    if python is None:
        return "no Python 3.13 here: LocalStack is not installed (its tests will be skipped)"
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([*pip, f"localstack-core[runtime]=={VERSION}", "-c", str(CONSTRAINTS)], check=True)
    return f"installed LocalStack {VERSION} in {venv}"


def venv_python(venv: Path = VENV) -> Path | None:
    """The virtualenv's interpreter, if this LocalStack version is installed there."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    found = list((venv / "lib").glob(f"python3.*/site-packages/localstack_core-{VERSION}.dist-info"))
    return python if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# No proxy: the health check goes to 127.0.0.1 itself, whatever HTTP_PROXY says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthy(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with _DIRECT.open(f"{endpoint}/_localstack/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class LocalStack:
    """One LocalStack process on 127.0.0.1, started by ``start`` and stopped by ``stop``."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path
    scratch: Path

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, wait: float | None = None) -> None:
        _stop(self.process, STOP_SECONDS if wait is None else wait)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop(process: subprocess.Popen[bytes], wait: float) -> None:
    """SIGTERM to the group LocalStack leads (it was started in its own session), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _environment(port: int, scratch: Path, services: str, mock_config: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "PYTHON"))}
    env.update(
        {
            # The machine image carries Docker's marker file: without this LocalStack
            # believes it runs in its own container.
            "OVERRIDE_IN_DOCKER": "0",
            # The default server ignores the host part and listens on 0.0.0.0.
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_TELEMETRY_DISABLED": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DNS_ADDRESS": "0",  # no DNS server (it would bind 0.0.0.0:53 where it may)
            "FILESYSTEM_ROOT": str(scratch / "filesystem"),
            "SERVICES": services,
        }
    )
    if mock_config is not None:
        env["SFN_MOCK_CONFIG"] = str(mock_config)
    return env


def start(
    *,
    venv: Path = VENV,
    port: int | None = None,
    mock_config: Path | None = None,
    services: str = SERVICES,
    scratch: Path | None = None,
    deadline: float = START_SECONDS,
    attempts: int = 3,
) -> LocalStack:
    """Start LocalStack and wait until it answers; kill and retry a start that never listens."""
    python = venv_python(venv)
    if python is None:
        raise LocalStackUnavailable(f"LocalStack is not installed in {venv}")
    scratch = scratch or Path(tempfile.mkdtemp(prefix="stepsaga-localstack-"))
    failures = []
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        endpoint = f"http://127.0.0.1:{chosen}"
        log = scratch / f"localstack-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(python), "-m", "localstack.runtime.main"],
                env=_environment(chosen, scratch, services, mock_config),
                cwd=scratch,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() signals only it
            )
        running = LocalStack(endpoint, process, log, scratch)
        until = time.monotonic() + deadline
        while time.monotonic() < until and process.poll() is None:
            if healthy(endpoint):
                return running
            time.sleep(0.2)
        running.stop()
        failures.append(f"attempt {attempt} on port {chosen}: exit {process.poll()}\n{running.log_tail(10)}")
    raise LocalStackUnavailable("LocalStack did not start:\n" + "\n".join(failures))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepsaga.localstack", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help=f"install LocalStack {VERSION} into {VENV.name} (needs Python 3.13)")
    run = commands.add_parser("run", help="run LocalStack on 127.0.0.1 until Ctrl-C")
    run.add_argument("--port", type=int, default=4566)
    run.add_argument("--mock-config", type=Path, help="SFN_MOCK_CONFIG: mocked task responses")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(), flush=True)
        return 0
    running = start(port=args.port, mock_config=args.mock_config)
    print(f"LocalStack {VERSION} at {running.endpoint} (log {running.log}); Ctrl-C stops it", flush=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
