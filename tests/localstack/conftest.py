"""The LocalStack tier: LocalStack on this host (``stepsaga.localstack``), started once per
session with the mocked task responses generated from the sagas' declarations, and every
generated state machine created on it. Skipped, with the reason, where Python 3.13 or
LocalStack's virtualenv is absent (``.venv/bin/python -m stepsaga.localstack install``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from statemachines.catalogue import PARENTS, SAGAS, asl_path, machines
from statemachines.parent import state_machine_key
from statemachines.saga import PLACEHOLDER
from statemachines.tools import mocks
from stepsaga import localstack as host

ACCOUNT = "000000000000"  # LocalStack's default account
PLAN = mocks.plan(SAGAS.values(), PARENTS.values())


def machine_arn(name: str) -> str:
    return f"arn:aws:states:{host.REGION}:{ACCOUNT}:stateMachine:{name}"


def substitutions() -> dict[str, str]:
    """What CDK's DefinitionSubstitutions would fill in: fake function ARNs (every Lambda is
    mocked), and the ARNs the other machines get on LocalStack."""
    found = {state_machine_key(name): machine_arn(name) for name in machines()}
    for declared in [*SAGAS.values(), *PARENTS.values(), *(p.child for p in PARENTS.values())]:
        for key in declared.functions():
            found[key] = f"arn:aws:lambda:{host.REGION}:{ACCOUNT}:function:{key}"
    return found


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[host.LocalStack]:
    if host.python313() is None:
        pytest.skip("LocalStack tier: no Python 3.13 on this machine (LocalStack 4.14 needs it)")
    if host.venv_python() is None:
        pytest.skip("LocalStack tier: not installed (.venv/bin/python -m stepsaga.localstack install)")
    scratch = tmp_path_factory.mktemp("localstack")
    config = scratch / "sfn-mock-config.json"
    config.write_text(json.dumps(mocks.localstack_config(PLAN.cases), indent=1))
    running = host.start(mock_config=config, scratch=scratch)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def definitions() -> dict[str, dict[str, Any]]:
    """Every generated machine's committed ASL (statemachines/asl), by name."""
    return {name: json.loads(asl_path(name).read_text()) for name in machines()}


@pytest.fixture(scope="session")
def created(localstack: host.LocalStack, definitions: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Create every generated machine on LocalStack with its placeholders filled in."""
    sfn = localstack.client("stepfunctions")
    values = substitutions()
    arns = {}
    for name, asl in definitions.items():
        text = PLACEHOLDER.sub(lambda key: values[key.group(1)], json.dumps(asl))
        role = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        arns[name] = sfn.create_state_machine(name=name, definition=text, roleArn=role)["stateMachineArn"]
        assert arns[name] == machine_arn(name)
    return arns
