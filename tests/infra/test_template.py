"""Assertions on the synthesized CloudFormation template (the one `cdk deploy` deploys).

Synthesis runs cdk-nag's AwsSolutions pack; it fails on any unacknowledged finding, so a
template that exists here is nag-clean.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from functions.common.names import ENV_ALLOW_FAULT_INJECTION
from infra import names
from infra.nag import PACK, acknowledgements
from statemachines.catalogue import TEST_GENERATION, machines
from statemachines.saga import compile_saga
from stepsaga.embedded.stack import EMBEDDED_CONTEXT
from stepsaga.embedded.synth import cloud_assembly

pytestmark = pytest.mark.infra

DATA_PLANE = re.compile(r"^(dynamodb|s3|sqs|states|lambda):")
MACHINE = "AWS::StepFunctions::StateMachine"
POLICY = "AWS::IAM::Policy"
FUNCTION = "AWS::Lambda::Function"


def _template(context: dict[str, Any]) -> Template:
    path = cloud_assembly(context) / f"{names.STACK_NAME}.template.json"
    return Template.from_json(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def template() -> Template:
    return _template(EMBEDDED_CONTEXT)


def _named(name: str) -> dict[str, Any]:
    return {"StateMachineName": f"{names.STACK_NAME}-{name}"}


def machine_id(template: Template, name: str = "test-generation") -> str:
    return str(template.get_resource_id(MACHINE, {"Properties": _named(name)}))


def state_machine(template: Template, name: str = "test-generation") -> dict[str, Any]:
    return dict(template.find_resources(MACHINE)[machine_id(template, name)]["Properties"])


def logical_id(template: Template, kind: str, prefix: str) -> str:
    """The one resource of ``kind`` whose logical id starts with ``prefix``."""
    [found] = [k for k in template.find_resources(kind) if k.startswith(prefix)]
    return found


def exactly(document: Any) -> Any:
    """A pattern matching ``document`` exactly, JSON nulls too (jsii drops ``None`` from a
    pattern, so each becomes "present, and no value")."""
    if document is None:
        return Match.not_(Match.any_value())
    if isinstance(document, dict):
        return Match.object_equals({k: exactly(v) for k, v in document.items()})
    if isinstance(document, list):
        return Match.array_equals([exactly(v) for v in document])
    return document


def test_the_deployed_definition_is_the_compiled_declaration(template):
    template.has_resource_properties(
        MACHINE,
        {
            **_named("test-generation"),
            "DefinitionString": Match.serialized_json(exactly(compile_saga(TEST_GENERATION))),
        },
    )


@pytest.mark.parametrize("name", sorted(machines()))
def test_every_placeholder_is_substituted(template, name):
    properties = state_machine(template, name)
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", properties["DefinitionString"]))
    substitutions = properties["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)
    versions = template.find_resources("AWS::Lambda::Version")
    machines_ = template.find_resources(MACHINE)
    for key, value in substitutions.items():
        if key.endswith("FunctionArn"):  # a pinned Lambda version, never $LATEST
            assert value["Ref"] in versions, key
        else:
            assert value["Ref"] in machines_, key


@pytest.mark.parametrize("name", sorted(machines()))
def test_every_state_machine_publishes_a_version_behind_a_live_alias(template, name):
    machine = machine_id(template, name)
    # Exactly one version of the machine, and it is of the machine's current revision.
    version = template.get_resource_id(
        "AWS::StepFunctions::StateMachineVersion", {"Properties": {"StateMachineArn": {"Ref": machine}}}
    )
    template.resource_properties_count_is(
        "AWS::StepFunctions::StateMachineVersion",
        {
            "StateMachineArn": {"Ref": machine},
            "StateMachineRevisionId": {"Fn::GetAtt": [machine, "StateMachineRevisionId"]},
        },
        1,
    )
    template.resource_properties_count_is(
        "AWS::StepFunctions::StateMachineAlias",
        {
            "Name": "live",
            "RoutingConfiguration": [
                {"StateMachineVersionArn": {"Fn::GetAtt": [version, "Arn"]}, "Weight": 100}
            ],
        },
        1,
    )


@pytest.mark.parametrize("name", sorted(machines()))
def test_the_deployed_definitions_are_the_committed_asl(template, name):
    compiled = machines()[name]()
    template.has_resource_properties(
        MACHINE, {**_named(name), "DefinitionString": Match.serialized_json(exactly(compiled))}
    )


def test_every_task_has_retry_and_catch(template):
    states = json.loads(state_machine(template)["DefinitionString"])["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert len(tasks) == 6 + 3 + 1  # agents, compensations, the failure reporter
    for name, state in tasks.items():
        assert state["Retry"], name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
    for step in ("Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"):
        assert states[step]["Catch"][-1]["ResultPath"] == "$.error"  # the input survives the failure


def _statements(template: Template, props: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """(policy id, statement) for every statement of the IAM policies matching ``props``."""
    return [
        (policy_id, statement)
        for policy_id, policy in template.find_resources(POLICY, props).items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _granting(action: str) -> dict[str, Any]:
    """Policies with a statement whose actions include ``action``."""
    statement = Match.object_like({"Action": Match.array_with([action])})
    return {"Properties": {"PolicyDocument": {"Statement": Match.array_with([statement])}}}


def _of_role(role: str) -> dict[str, Any]:
    return {"Properties": {"Roles": Match.array_with([{"Ref": role}])}}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_data_plane_action_uses_a_wildcard_resource(template):
    for policy_id, statement in _statements(template):
        actions = _as_list(statement["Action"])
        if any(DATA_PLANE.match(a) for a in actions):
            assert "*" not in _as_list(statement["Resource"]), (policy_id, actions)


def _role_of(template: Template, function_prefix: str) -> str:
    function = template.find_resources(FUNCTION)[logical_id(template, FUNCTION, function_prefix)]
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


def _policy_of(template: Template, function_prefix: str) -> str:
    """Every policy of the function's role (its grants, and its tracing policy), as one text."""
    policies = template.find_resources(POLICY, _of_role(_role_of(template, function_prefix))).values()
    return json.dumps([policy["Properties"]["PolicyDocument"] for policy in policies])


@pytest.mark.parametrize(
    ("function", "allowed", "forbidden"),
    [
        (
            "RequirementsFunction",
            {"ScenariosTable", "LedgerTable"},
            # Idempotency records are the callback step's alone (issue 12, section 5).
            {"TestsTable", "RunsTable", "IdempotencyTable"},
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
    role = _role_of(template, "CompensateRequirementsFunction")
    scenarios = logical_id(template, "AWS::DynamoDB::Table", "ScenariosTable")
    statements = _statements(template, _of_role(role))
    granted = {
        action
        for _, statement in statements
        if scenarios in json.dumps(statement["Resource"])
        for action in _as_list(statement["Action"])
    }
    # It deletes the scenarios the ledger names; it neither reads, updates nor puts any.
    assert granted == {"dynamodb:DeleteItem"}


def test_only_the_callback_agent_and_the_api_may_answer_tasks_and_only_for_saga_machines(template):
    answering = {
        policy_id.split("Function")[0]: s
        for policy_id, s in _statements(template, _granting("states:SendTaskSuccess"))
        if "states:SendTaskSuccess" in _as_list(s["Action"])
    }
    # Execution reports its own callback; the API answers approval gates (approve/cancel).
    assert set(answering) == {"Execution", "Api"}
    for statement in answering.values():
        resources_ = json.dumps(statement["Resource"])
        assert "stateMachine:" in resources_ and "*" not in _as_list(statement["Resource"])


def test_data_is_encrypted_and_recoverable(template):
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue"):
        assert template.find_resources(kind), kind
    template.all_resources_properties(
        "AWS::DynamoDB::Table",
        {
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {"BucketEncryption": Match.any_value(), "PublicAccessBlockConfiguration": {"BlockPublicAcls": True}},
    )
    template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})


def test_callback_step_is_invoked_asynchronously_without_lambda_retries(template):
    config = "AWS::Lambda::EventInvokeConfig"
    execution = {"FunctionName": {"Ref": logical_id(template, FUNCTION, "ExecutionFunction")}}
    template.resource_properties_count_is(config, execution, 2)
    template.resource_properties_count_is(config, {**execution, "MaximumRetryAttempts": 0}, 2)
    # The state machine invokes the pinned version: the setting must cover it, not only $LATEST.
    template.has_resource_properties(config, {**execution, "Qualifier": {"Fn::GetAtt": Match.any_value()}})


def test_state_machine_logs_everything_and_is_traced(template):
    template.has_resource_properties(
        MACHINE,
        {
            **_named("test-generation"),
            "LoggingConfiguration": {"Level": "ALL"},
            "TracingConfiguration": {"Enabled": True},
        },
    )


@pytest.mark.parametrize(
    "context",
    [EMBEDDED_CONTEXT, {**EMBEDDED_CONTEXT, "stepsaga:apiAuth": "api-key"}],
    ids=["iam-auth", "api-key-auth"],
)
def test_every_nag_acknowledgment_has_a_reason(context):
    """Read from the synthesized assembly: cdk-nag's validation report and the acknowledgements
    recorded on the constructs. Every finding is acknowledged, only through infra/nag.py, once
    per construct, with a reason, and every acknowledgement still excuses a finding."""
    from aws_cdk import App

    from infra.app import build

    assembly = cloud_assembly(context)
    report = json.loads((assembly / "validation-report.json").read_text())
    [nag] = [p for p in report["pluginReports"] if p["pluginName"] == PACK.split("::")[0]]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    metadata = json.loads((assembly / f"{names.STACK_NAME}.metadata.json").read_text())
    recorded = [
        (path.lstrip("/"), rule, reason)
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
        if rule.startswith(PACK)
    ]
    listed = [(a.scope.node.path, a.id, a.reason) for a in acknowledgements(build(App(context=context)))]
    assert sorted(recorded) == sorted(listed)  # nothing is acknowledged outside infra/nag.py
    assert len({(path, rule) for path, rule, _ in listed}) == len(listed)
    excused = {(s["acknowledgedAt"], s["acknowledgedId"]) for s in nag["suppressedViolations"]}
    for path, rule, reason in listed:
        assert (path, rule) in excused, f"{rule} on {path} excuses no finding: drop it"
        assert len(reason.split()) >= 6 and rule.removeprefix(PACK) not in reason, (rule, reason)


def test_fault_injection_is_off_unless_asked_for():
    default = _template({})
    assert default.find_resources(FUNCTION)
    default.all_resources_properties(
        FUNCTION, {"Environment": {"Variables": {ENV_ALLOW_FAULT_INJECTION: "false"}}}
    )


def test_a_failed_compensation_and_dead_letters_raise_alarms_to_the_topic(template):
    alarm = "AWS::CloudWatch::Alarm"
    topic = template.get_resource_id("AWS::SNS::Topic")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        alarm,
        {
            "MetricName": "CompensationFailed",
            "Namespace": "StepSaga",
            "Dimensions": Match.exact([{"Name": "service", "Value": "ReportCompensationFailure"}]),
            "Threshold": 1,
        },
    )
    template.has_resource_properties(
        alarm, {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"}
    )
    template.all_resources_properties(alarm, {"AlarmActions": Match.exact([{"Ref": topic}])})
    # A failure-rate and a compensation-rate alarm for each machine, from metric math.
    template.resource_properties_count_is(alarm, {"Metrics": Match.any_value()}, 2 * len(machines()))
    rolled = {"Properties": {"Metrics": Match.array_with([Match.object_like({"Id": "rolled"})])}}
    compensation_rates = template.find_resources(alarm, rolled)
    assert len(compensation_rates) == len(machines())
    names_used = {
        m["MetricStat"]["Metric"]["MetricName"]
        for a in compensation_rates.values()
        for m in a["Properties"]["Metrics"]
        if "MetricStat" in m
    }
    assert names_used == {"SagasRolledBack", "SagasCompensationFailed", "SagasStarted"}


def test_the_api_takes_iam_auth_by_default_and_an_api_key_when_asked():
    method = "AWS::ApiGateway::Method"
    default = _template(EMBEDDED_CONTEXT)
    assert default.find_resources(method)
    default.all_resources_properties(method, {"AuthorizationType": "AWS_IAM"})
    keyed = _template({**EMBEDDED_CONTEXT, "stepsaga:apiAuth": "api-key"})
    keyed.all_resources_properties(method, {"ApiKeyRequired": True})
    for kind in ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey"):
        assert keyed.find_resources(kind), kind


def _method_paths(template: Template) -> dict[str, dict[str, Any]]:
    """Each method's properties, by its resource's last path part and HTTP method."""
    resources_ = template.find_resources("AWS::ApiGateway::Resource")
    found = {}
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        resource_id = properties["ResourceId"]
        part = resources_[resource_id["Ref"]]["Properties"]["PathPart"] if "Ref" in resource_id else "/"
        found[f"{properties['HttpMethod']} {part}"] = properties
    return found


def test_with_an_api_key_the_steering_methods_take_iam_too():
    """A leaked shared key must not approve or cancel every saga's gate: the key identifies and
    meters a caller that cannot sign; approve, cancel, priority and resume still need a principal."""
    keyed = _template({**EMBEDDED_CONTEXT, "stepsaga:apiAuth": "api-key"})
    methods = _method_paths(keyed)
    steering = {"POST approve", "POST cancel", "POST priority", "POST resume"}
    assert steering <= set(methods)
    for name, properties in methods.items():
        assert properties["ApiKeyRequired"] is True, name
        assert properties["AuthorizationType"] == ("AWS_IAM" if name in steering else "NONE"), name
    [api] = keyed.find_resources("AWS::ApiGateway::RestApi").values()
    assert "API key" in api["Properties"]["Description"] and "IAM" in api["Properties"]["Description"]
    [default_api] = _template(EMBEDDED_CONTEXT).find_resources("AWS::ApiGateway::RestApi").values()
    assert "API key" not in default_api["Properties"]["Description"]
