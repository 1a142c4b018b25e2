"""Shared fixtures. The embedded stack is deployed once per session (synthesis is cached by
source hash under cdk.out.embedded/); every test uses its own saga ids, so tests never see
each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

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


# The longest tests (minutes between them: sagas at the size limit, sagas under load). Under
# pytest-xdist (`-n auto --dist loadfile`, the README's command) each is its own unit of work
# and they are handed out first, so the workers start on them and share the rest; as whole
# files they would run on one worker, after everything else.
RUN_ALONE = ("tests/statemachine/test_saga_size.py", "tests/statemachine/test_load.py")


def _runs_alone(nodeid: str) -> bool:
    return nodeid.split("::", 1)[0] in RUN_ALONE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not _runs_alone(item.nodeid))  # stable


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SlowTestsFirstAndAlone(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if _runs_alone(nodeid):
                return nodeid
            return str(super()._split_scope(nodeid))

    config.option.loadscopereorder = False  # keep the collection's order: RUN_ALONE first
    return SlowTestsFirstAndAlone(config, log)


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
