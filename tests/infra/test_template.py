"""Assertions on the synthesized CloudFormation template (the one `cdk deploy` deploys).

Synthesis runs cdk-nag's AwsSolutions pack; it fails on any unacknowledged finding, so a
template that exists here is nag-clean.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import names
from infra.nag import findings
from statemachines.catalogue import TEST_GENERATION, machines
from statemachines.saga import compile_saga
from stepsaga.embedded.stack import EMBEDDED_CONTEXT
from stepsaga.embedded.synth import cloud_assembly

pytestmark = pytest.mark.infra

DATA_PLANE = re.compile(r"^(dynamodb|s3|sqs|states|lambda):")


def _template(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads((cloud_assembly(context) / f"{names.STACK_NAME}.template.json").read_text())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _template(EMBEDDED_CONTEXT)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def state_machine(template: dict[str, Any], name: str = "test-generation") -> dict[str, Any]:
    [machine] = [
        m["Properties"]
        for m in resources(template, "AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == f"{names.STACK_NAME}-{name}"
    ]
    return machine


def test_the_deployed_definition_is_the_compiled_declaration(template):
    properties = state_machine(template)
    assert json.loads(properties["DefinitionString"]) == compile_saga(TEST_GENERATION)


@pytest.mark.parametrize("name", sorted(machines()))
def test_every_placeholder_is_substituted(template, name):
    properties = state_machine(template, name)
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", properties["DefinitionString"]))
    substitutions = properties["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)
    versions = resources(template, "AWS::Lambda::Version")
    machines_ = resources(template, "AWS::StepFunctions::StateMachine")
    for key, value in substitutions.items():
        if key.endswith("FunctionArn"):  # a pinned Lambda version, never $LATEST
            assert value["Ref"] in versions, key
        else:
            assert value["Ref"] in machines_, key


@pytest.mark.parametrize("name", sorted(machines()))
def test_every_state_machine_publishes_a_version_behind_a_live_alias(template, name):
    [machine_id] = [
        k
        for k, m in resources(template, "AWS::StepFunctions::StateMachine").items()
        if m["Properties"]["StateMachineName"] == f"{names.STACK_NAME}-{name}"
    ]
    [version_id] = [
        k
        for k, v in resources(template, "AWS::StepFunctions::StateMachineVersion").items()
        if v["Properties"]["StateMachineArn"] == {"Ref": machine_id}
    ]
    version = template["Resources"][version_id]["Properties"]
    assert version["StateMachineRevisionId"] == {"Fn::GetAtt": [machine_id, "StateMachineRevisionId"]}
    [alias] = [
        a["Properties"]
        for a in resources(template, "AWS::StepFunctions::StateMachineAlias").values()
        if a["Properties"]["RoutingConfiguration"][0]["StateMachineVersionArn"]
        == {"Fn::GetAtt": [version_id, "Arn"]}
    ]
    assert alias["Name"] == "live"
    assert alias["RoutingConfiguration"][0]["Weight"] == 100


def test_the_deployed_definitions_are_the_committed_asl(template):
    for name, compile_machine in machines().items():
        assert json.loads(state_machine(template, name)["DefinitionString"]) == compile_machine(), name


def test_every_task_has_retry_and_catch(template):
    states = json.loads(state_machine(template)["DefinitionString"])["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert len(tasks) == 6 + 3 + 1  # agents, compensations, the failure reporter
    for name, state in tasks.items():
        assert state["Retry"], name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
    for step in ("Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"):
        assert states[step]["Catch"][-1]["ResultPath"] == "$.error"  # the input survives the failure


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for policy_id, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append((policy_id, statement))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_data_plane_action_uses_a_wildcard_resource(template):
    for policy_id, statement in _statements(template):
        actions = _as_list(statement["Action"])
        if any(DATA_PLANE.match(a) for a in actions):
            assert "*" not in _as_list(statement["Resource"]), (policy_id, actions)


def _policy_of(template: dict[str, Any], function_prefix: str) -> str:
    roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if k.startswith(function_prefix)
    ]
    [role] = roles
    [policy] = [
        p
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return json.dumps(policy["Properties"]["PolicyDocument"])


@pytest.mark.parametrize(
    ("function", "allowed", "forbidden"),
    [
        (
            "RequirementsFunction",
            {"ScenariosTable", "LedgerTable", "IdempotencyTable"},
            {"TestsTable", "RunsTable"},
        ),
        (
            "GenerationFunction",
            {"TestsTable", "ScenariosTable", "LedgerTable"},
            {"RunsTable", "ReportsTable"},
        ),
        (
            "ExecutionFunction",
            {"RunsTable", "TestsTable", "ArtifactsBucket"},
            {"ScenariosTable", "ReportsTable"},
        ),
        (
            "CompensateRequirementsFunction",
            {"ScenariosTable", "LedgerTable"},
            {"TestsTable", "IdempotencyTable"},
        ),
        ("CompensateGenerationFunction", {"TestsTable", "LedgerTable"}, {"ScenariosTable", "RunsTable"}),
        ("ObservationFunction", {"RunsTable", "ReportsTable"}, {"ScenariosTable", "ArtifactsBucket"}),
        ("ReportCompensationFailureFunction", {"LedgerTable", "CompensationDeadLetterQueue"}, {"TestsTable"}),
    ],
)
def test_each_function_touches_only_its_own_data(template, function, allowed, forbidden):
    policy = _policy_of(template, function)
    for name in allowed:
        assert name in policy, (function, name)
    for name in forbidden:
        assert name not in policy, (function, name)


def test_compensations_cannot_write_new_data(template):
    policy = _policy_of(template, "CompensateRequirementsFunction")
    statement = [s for s in json.loads(policy)["Statement"] if "ScenariosTable" in json.dumps(s["Resource"])]
    assert set(statement[0]["Action"]) == {"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}


def test_only_the_callback_agent_and_the_api_may_answer_tasks_and_only_for_saga_machines(template):
    answering = {
        policy_id.split("Function")[0]: s
        for policy_id, s in _statements(template)
        if "states:SendTaskSuccess" in _as_list(s["Action"])
    }
    # Execution reports its own callback; the API answers approval gates (approve/cancel).
    assert set(answering) == {"Execution", "Api"}
    for statement in answering.values():
        resources_ = json.dumps(statement["Resource"])
        assert "stateMachine:" in resources_ and "*" not in _as_list(statement["Resource"])


def test_data_is_encrypted_and_recoverable(template):
    for table_id, table in resources(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, table_id
        pitr = table["Properties"]["PointInTimeRecoverySpecification"]
        assert pitr["PointInTimeRecoveryEnabled"] is True, table_id
    for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
        assert bucket["Properties"]["BucketEncryption"], bucket_id
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    for queue in resources(template, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_callback_step_is_invoked_asynchronously_without_lambda_retries(template):
    configs = [
        c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"]["Ref"].startswith("ExecutionFunction")
    ]
    # The state machine invokes the pinned version: the setting must cover it, not only $LATEST.
    assert [c["MaximumRetryAttempts"] for c in configs] == [0, 0]
    assert any(isinstance(c["Qualifier"], dict) and "Fn::GetAtt" in c["Qualifier"] for c in configs)


def test_state_machine_logs_everything_and_is_traced(template):
    properties = state_machine(template)
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert properties["TracingConfiguration"]["Enabled"] is True


def test_every_nag_acknowledgment_has_a_reason():
    from aws_cdk import App

    from infra.app import build

    for finding, reason in findings(build(App())).items():
        assert len(reason) > 20, finding


def test_fault_injection_is_off_unless_asked_for():
    default = _template({})
    for function in resources(default, "AWS::Lambda::Function").values():
        assert function["Properties"]["Environment"]["Variables"][names.ENV_ALLOW_FAULT_INJECTION] == "false"


def test_a_failed_compensation_and_dead_letters_raise_alarms_to_the_topic(template):
    alarms = {k: a["Properties"] for k, a in resources(template, "AWS::CloudWatch::Alarm").items()}
    [topic_id] = resources(template, "AWS::SNS::Topic")
    by_metric = {a.get("MetricName"): a for a in alarms.values() if "MetricName" in a}
    compensation = by_metric["CompensationFailed"]
    assert compensation["Namespace"] == "StepSaga"
    assert compensation["Dimensions"] == [{"Name": "service", "Value": "ReportCompensationFailure"}]
    assert compensation["Threshold"] == 1
    dead_letters = by_metric["ApproximateNumberOfMessagesVisible"]
    assert dead_letters["Namespace"] == "AWS/SQS"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    rates = [a for a in alarms.values() if "Metrics" in a]
    assert len(rates) == 2 * len(machines())  # a failure-rate and a compensation-rate alarm each
    compensation_rates = [a for a in rates if "rolled" in json.dumps(a["Metrics"])]
    assert len(compensation_rates) == len(machines())
    names_used = {
        m["MetricStat"]["Metric"]["MetricName"]
        for a in compensation_rates
        for m in a["Metrics"]
        if "MetricStat" in m
    }
    assert names_used == {"SagasRolledBack", "SagasCompensationFailed", "SagasStarted"}
    topic = resources(template, "AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic


def test_the_api_takes_iam_auth_by_default_and_an_api_key_when_asked():
    methods = resources(_template(EMBEDDED_CONTEXT), "AWS::ApiGateway::Method").values()
    assert {m["Properties"]["AuthorizationType"] for m in methods} == {"AWS_IAM"}
    keyed = _template({**EMBEDDED_CONTEXT, "stepsaga:apiAuth": "api-key"})
    keyed_methods = resources(keyed, "AWS::ApiGateway::Method").values()
    assert all(m["Properties"]["ApiKeyRequired"] is True for m in keyed_methods)
    assert resources(keyed, "AWS::ApiGateway::UsagePlan") and resources(keyed, "AWS::ApiGateway::ApiKey")
