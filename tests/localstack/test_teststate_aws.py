"""The same path catalogue on AWS's TestState API: every case of every machine walked state
by state (``statemachines.tools.teststate``), with the same expectations as on LocalStack.

    pytest tests/localstack/test_teststate_aws.py --target aws

Needs AWS credentials and ``STEPSAGA_TESTSTATE_ROLE_ARN`` (a role Step Functions may assume;
every task is mocked, so it needs no permissions). Nothing is created in the account. Cases
through a Map are skipped with the reason (TestState runs a Map only as a whole).
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from statemachines.catalogue import asl_path, machines
from statemachines.parent import state_machine_key
from statemachines.saga import PLACEHOLDER
from statemachines.tools import mocks, teststate
from tests.localstack.conftest import PLAN

pytestmark = pytest.mark.localstack

ROLE_VARIABLE = "STEPSAGA_TESTSTATE_ROLE_ARN"


@pytest.fixture(scope="module")
def aws(request: pytest.FixtureRequest) -> tuple[Any, str, dict[str, str]]:
    """A Step Functions client, the role, and the ARNs CDK would fill the placeholders with."""
    if request.config.getoption("--target", default=None) != "aws":
        pytest.skip("TestState paths run on AWS only: --target aws")
    role = os.environ.get(ROLE_VARIABLE)
    if not role:
        pytest.skip(f"TestState paths: set {ROLE_VARIABLE} (a role Step Functions may assume)")
    session = boto3.Session()
    if session.get_credentials() is None:  # only past the checks above: this may ask instance metadata
        pytest.skip("TestState paths: no AWS credentials")
    region = session.region_name or "us-east-1"
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    # Every task is mocked: the functions and child machines need not exist.
    values = {state_machine_key(n): f"arn:aws:states:{region}:{account}:stateMachine:{n}" for n in machines()}
    for name in {m.group(1) for n in machines() for m in PLACEHOLDER.finditer(asl_path(n).read_text())}:
        values.setdefault(name, f"arn:aws:lambda:{region}:{account}:function:{name}")
    return session.client("stepfunctions", region_name=region), role, values


@pytest.mark.parametrize("case", PLAN.cases, ids=lambda c: f"{c.machine}:{c.name}")
def test_the_path_walks_on_teststate_as_its_declaration_says(
    case: mocks.MockCase, aws: tuple[Any, str, dict[str, str]]
) -> None:
    client, role, values = aws
    text = PLACEHOLDER.sub(lambda key: values[key.group(1)], asl_path(case.machine).read_text())
    asl = json.loads(text)
    reason = teststate.unsupported(case, asl)
    if reason:
        pytest.skip(f"TestState: {reason}")
    walked = teststate.walk(client, asl, case, role)

    assert walked.observed.states == case.states
    assert walked.observed.nested == case.nested
    assert walked.observed.attempts == case.attempts
    assert (walked.status, walked.error) == (case.status, case.error), walked.cause
