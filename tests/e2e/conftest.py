"""The endpoint-agnostic HTTP suite: the same tests against the embedded stack's local API
server, LocalStack's API Gateway or AWS.

    pytest tests/e2e                      # embedded (default): local server over the embedded stack
    pytest tests/e2e --target up          # a running `stepsaga up` (its state file), else one started here
    pytest tests/e2e --target localstack  # LOCALSTACK_ENDPOINT (default http://localhost:4566)
    pytest tests/e2e --target aws         # the deployed stack's SagaApiUrl, SigV4 with your AWS credentials

``STEPSAGA_E2E_TARGET`` selects the target too (``--target`` is only known to pytest when this
directory is on the command line). Sagas that run need a target site their Execution agent may
reach: ``STEPSAGA_E2E_SITE_URL`` (localstack/aws; the embedded target serves the demo site).
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from stepsaga.cli.saga import Client, CliError

TARGETS = ("embedded", "up", "localstack", "aws")


@dataclass
class Target:
    name: str
    client: Client
    site_url: str | None  # a site sagas may test; None: tests that run sagas skip

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return self.client.request(method, path, body, **kwargs)

    def key(self) -> str:
        return f"e2e-{uuid.uuid4().hex[:16]}"

    def request_doc(self) -> dict[str, Any]:
        if not self.site_url:
            pytest.skip(f"no target site for sagas on {self.name}: set STEPSAGA_E2E_SITE_URL")
        return {
            "project": "acme-web",
            "target_url": self.site_url,
            "user_stories": ['As a visitor I open / and see "Welcome to Acme"'],
        }

    def status(self, saga_id: str) -> dict[str, Any]:
        code, body = self.request("GET", f"/sagas/{saga_id}")
        assert code == 200, body
        return dict(body)

    def wait(self, saga_id: str, until: Any, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            status = self.status(saga_id)
            if until(status):
                return status
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        raise TimeoutError(f"{saga_id}: condition not met within {timeout} s ({status['status']})")


def _target_name(config: pytest.Config) -> str:
    try:
        chosen = config.getoption("--target")
    except ValueError:  # the option was registered too late (tests/e2e not on the command line)
        chosen = None
    return str(chosen or os.environ.get("STEPSAGA_E2E_TARGET") or "embedded")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except Exception:
        return False


def _stack_output(key: str, **client_options: Any) -> str | None:
    import boto3

    from infra import names

    try:
        stack = boto3.client("cloudformation", **client_options).describe_stacks(StackName=names.STACK_NAME)
    except Exception:
        return None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}
    return outputs.get(key)


def _up_target(request: pytest.FixtureRequest, site: str | None) -> Iterator[Target]:
    """``stepsaga up``'s stack: the one running (its state file), else one started for the session.
    As for LocalStack, the stack's outputs are read from CloudFormation on the endpoint."""
    from infra.api import OUT_API_ID, STAGE
    from stepsaga.cli import running
    from stepsaga.cli.api_server import user_request_path
    from tests.e2e.up_process import UpProcess

    found = running.read()
    process = None
    if found is None:
        process = UpProcess(request.getfixturevalue("tmp_path_factory").mktemp("up"))
        found = process.start()
    try:
        options = {
            "endpoint_url": found.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        api_id = _stack_output(OUT_API_ID, **options)
        if not api_id:
            raise pytest.UsageError(f"no {OUT_API_ID} output at {found.endpoint}: is it stepsaga up's?")
        # As on LocalStack: the API on the endpoint, found from the stack's outputs.
        url = found.endpoint + user_request_path(api_id, STAGE)
        yield Target("up", Client(url), site or request.getfixturevalue("site").url)
    finally:
        if process is not None:
            process.stop()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    from infra.api import OUT_API_ID, OUT_API_URL, STAGE
    from stepsaga.cli.api_server import user_request_path

    name = _target_name(request.config)
    if name not in TARGETS:
        raise pytest.UsageError(f"STEPSAGA_E2E_TARGET must be one of {', '.join(TARGETS)}")
    site = os.environ.get("STEPSAGA_E2E_SITE_URL")
    if name == "embedded":
        from stepsaga.cli.api_server import serve

        stack = request.getfixturevalue("stack")
        demo = request.getfixturevalue("site")
        with serve(stack) as server:
            yield Target(name, Client(server.url), site or demo.url)
        return
    if name == "up":
        yield from _up_target(request, site)
        return
    if name == "localstack":
        endpoint = os.environ.get("LOCALSTACK_ENDPOINT", "http://localhost:4566").rstrip("/")
        if not _answers(f"{endpoint}/_localstack/health"):
            pytest.skip(f"LocalStack does not answer at {endpoint}")
        options = {"endpoint_url": endpoint, "region_name": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        api_id = _stack_output(OUT_API_ID, **options)
        if not api_id:
            pytest.skip(f"no {OUT_API_ID} output: deploy the stack to LocalStack first (make local-deploy)")
        yield Target(name, Client(endpoint + user_request_path(api_id, STAGE)), site)
        return
    url = os.environ.get("STEPSAGA_E2E_API_URL") or _stack_output(OUT_API_URL)
    if not url:
        pytest.skip(f"no deployed API: set STEPSAGA_E2E_API_URL or deploy the stack ({OUT_API_URL} output)")
    try:
        client = Client(url, sign=True, region=os.environ.get("AWS_REGION"))
    except CliError as error:
        pytest.skip(str(error))
    yield Target(name, client, site)
