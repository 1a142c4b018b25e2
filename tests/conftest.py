"""Shared fixtures. The embedded stack is deployed once per session (synthesis is cached by
source hash under cdk.out.embedded/); every test uses its own saga ids, so tests never see
each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.patches import stepfunctions

# Never ask the instance metadata address for credentials: no test may reach beyond loopback,
# and a target that needs real credentials (--target aws) must find them in the environment.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Declared here (the root conftest) so `pytest --target ...` works from the project root.
    parser.addoption(
        "--target",
        choices=("embedded", "up", "localstack", "aws"),
        default=None,
        help="where the e2e suite sends HTTP requests (default: embedded, or $STEPSAGA_E2E_TARGET)",
    )


@pytest.fixture(scope="session")
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


@pytest.fixture(scope="session")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as embedded:
        yield embedded


@pytest.fixture
def request_doc(site: DemoSite) -> dict[str, object]:
    return demo_request(site.url)


@pytest.fixture
def saga_name() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture(autouse=True)
def _housekeeping() -> Iterator[None]:
    yield
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS.clear()  # moto keeps every callback waiter thread otherwise
    stepfunctions.TIME.factor = 1.0
    stepfunctions.TIME.per_state.clear()
    stepfunctions.TIME.per_execution.clear()
