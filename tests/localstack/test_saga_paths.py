"""Every path of every generated machine, run on LocalStack against mocked task responses.

The cases come from the declarations (``statemachines.tools.mocks``: the cost model's paths
plus Map items and the parent's routes); each starts as ``<machine ARN>#<case>``. All start
at once, because retry intervals are real waits on LocalStack, then each test reads its
execution's history and asserts the ordered state names, the states entered inside Map
iterations, the number of task attempts, and the final status and error.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from statemachines.tools import mocks
from stepsaga.localstack import LocalStack
from tests.localstack.conftest import PLAN

pytestmark = pytest.mark.localstack

DEADLINE_SECONDS = 120.0  # the slowest path waits ~30 s in retry intervals


@pytest.fixture(scope="module")
def started(localstack: LocalStack, created: dict[str, str]) -> dict[tuple[str, str], str]:
    sfn = localstack.client("stepfunctions")
    return {
        (case.machine, case.name): sfn.start_execution(
            stateMachineArn=f"{created[case.machine]}#{case.name}", input=json.dumps(case.input)
        )["executionArn"]
        for case in PLAN.cases
    }


def _finished(sfn: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.25)
    raise AssertionError(f"{execution_arn} still running after {DEADLINE_SECONDS} s")


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


@pytest.mark.parametrize("case", PLAN.cases, ids=lambda c: f"{c.machine}:{c.name}")
def test_the_path_runs_as_its_declaration_says(
    case: mocks.MockCase,
    localstack: LocalStack,
    definitions: dict[str, dict[str, Any]],
    started: dict[tuple[str, str], str],
) -> None:
    sfn = localstack.client("stepfunctions")
    described = _finished(sfn, started[(case.machine, case.name)])
    observed = mocks.observe(_history(sfn, described["executionArn"]), definitions[case.machine])

    assert observed.states == case.states
    assert observed.nested == case.nested
    assert observed.attempts == case.attempts
    assert (described["status"], described.get("error")) == (case.status, case.error), described.get("cause")
