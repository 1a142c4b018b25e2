"""Every role's grants, read off the synthesized template, against the declared allow-list
(infra/permissions.py): a grant nobody declared fails here, and so does a declared one that
is gone. Also what the allow-list must never hold: another step's ledger entries, task tokens."""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from typing import Any

import pytest

from infra import names
from infra.permissions import FUNCTIONS, OWN_LOGS, function_grants, machine_grants
from statemachines.catalogue import SAGAS, machines
from statemachines.saga import function_key
from stepsaga.embedded.stack import EMBEDDED_CONTEXT
from stepsaga.embedded.synth import cloud_assembly

pytestmark = pytest.mark.infra

CONTEXTS = {"iam-auth": EMBEDDED_CONTEXT, "api-key-auth": {**EMBEDDED_CONTEXT, "stepsaga:apiAuth": "api-key"}}
_HASH = re.compile(r"[0-9A-F]{8}(?:[0-9a-f]{32})?$")  # what CDK appends to a logical id
_ARN = re.compile(r"^arn:AWS::Partition:([a-z0-9-]+):AWS::Region:AWS::AccountId:")
Grants = dict[str, set[tuple[str, str]]]


def _resources(context: dict[str, Any]) -> dict[str, Any]:
    path = cloud_assembly(context) / f"{names.STACK_NAME}.template.json"
    return dict(json.loads(path.read_text())["Resources"])


@pytest.fixture(scope="module", params=list(CONTEXTS), ids=list(CONTEXTS))
def resources(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _resources(CONTEXTS[request.param])


def _bare(logical_id: str) -> str:
    return _HASH.sub("", logical_id)


def _render(value: Any) -> str:
    """A resource as the allow-list writes it: ids without their hash, ARNs from the service on."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return _bare(value["Ref"])
    if "Fn::GetAtt" in value:
        return _bare(value["Fn::GetAtt"][0])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return _ARN.sub(r"\1:", separator.join(_render(p) for p in parts))
    raise AssertionError(f"no rendering for {value}")


def _condition(condition: dict[str, Any] | None) -> str:
    if not condition:
        return ""
    found = []
    for by_key in condition.values():
        for key, values in by_key.items():
            values = values if isinstance(values, list) else [values]
            found.append(f"{key.removeprefix('dynamodb:')} {','.join(values)}")
    return f"[{'; '.join(sorted(found))}]"


def _owner(role_id: str) -> str:
    """``RequirementsFunctionServiceRole1A2B3C4D`` -> ``RequirementsFunction``."""
    return re.sub(r"(ServiceRole|Role)$", "", _bare(role_id))


def granted(resources: dict[str, Any]) -> Grants:
    """(action, resource) pairs each role holds, across all its policies, by owner."""
    found: Grants = defaultdict(set)
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        properties = resource["Properties"]
        for role in properties["Roles"]:
            owner = _owner(role["Ref"])
            logs = f"{owner.removesuffix('Function')}Logs"
            for statement in properties["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow", statement
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                targets = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                for target in targets:
                    name = _render(target)
                    name = OWN_LOGS if name == logs else name + _condition(statement.get("Condition"))
                    found[owner] |= {(action, name) for action in actions}
    return dict(found)


def declared() -> Grants:
    expected = {function: function_grants(function) for function in FUNCTIONS}
    expected |= {f"{names.camel(name)}StateMachine": machine_grants(name) for name in machines()}
    return expected


def undeclared(resources: dict[str, Any]) -> dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]]:
    """Per role whose grants differ from the allow-list: (held but undeclared, declared but not held)."""
    held, expected = granted(resources), declared()
    return {
        owner: (
            held.get(owner, set()) - expected.get(owner, set()),
            expected.get(owner, set()) - held.get(owner, set()),
        )
        for owner in held.keys() | expected.keys()
        if held.get(owner, set()) != expected.get(owner, set())
    }


def test_every_role_holds_exactly_what_is_declared(resources):
    assert undeclared(resources) == {}


def test_a_grant_nobody_declared_fails():
    resources = copy.deepcopy(_resources(EMBEDDED_CONTEXT))
    [policy] = [
        r
        for key, r in resources.items()
        if r["Type"] == "AWS::IAM::Policy" and key.startswith("RequirementsFunctionServiceRoleDefaultPolicy")
    ]
    [scenarios] = [k for k in resources if k.startswith("ScenariosTable")]
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Action": "dynamodb:Scan", "Effect": "Allow", "Resource": {"Fn::GetAtt": [scenarios, "Arn"]}}
    )
    assert undeclared(resources) == {"RequirementsFunction": ({("dynamodb:Scan", "ScenariosTable")}, set())}


def test_only_the_api_gateway_logging_role_has_a_managed_policy(resources):
    """No AWSLambdaBasicExecutionRole: it allows writing to every log group of the account."""
    managed = {
        _bare(key): json.dumps(r["Properties"]["ManagedPolicyArns"])
        for key, r in resources.items()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("ManagedPolicyArns")
    }
    assert list(managed) == ["SagaApiCloudWatchRole"], managed
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in managed["SagaApiCloudWatchRole"]


def test_a_steps_ledger_entries_are_reachable_only_by_that_steps_functions(resources):
    """What keys the ledger by step: an agent can neither rewrite nor un-fence another step."""
    functions_of: dict[str, set[str]] = defaultdict(set)
    for saga in SAGAS.values():
        for step in saga.steps:
            states = [s for s in step.task_states if not (step.each and s == step.policy_state)]
            states += [step.compensation_state] if step.compensation else []
            functions_of[step.name] |= {function_key(s).removesuffix("Arn") for s in states}
    reached = 0
    for owner, grants in granted(resources).items():
        for _, resource in grants:
            if not resource.startswith("LedgerTable") or resource.startswith("LedgerTable/index/"):
                continue
            match = re.fullmatch(r"LedgerTable\[LeadingKeys ([A-Za-z0-9]+)#\*\]", resource)
            assert match, (owner, resource)  # never the whole table
            assert owner in functions_of[match.group(1)], (owner, resource)
            reached += 1
    assert reached  # the rule above did meet ledger grants


def test_no_agent_can_read_a_task_token(resources):
    """Tokens live in the Sagas table: only the API (which answers gates) reads its items whole."""
    reads = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"}
    for owner, grants in granted(resources).items():
        for action, resource in grants:
            if resource.startswith("SagasTable") and action in reads and owner != "ApiFunction":
                assert resource.startswith("SagasTable[Attributes ") and "task_token" not in resource, (
                    owner,
                    action,
                    resource,
                )
