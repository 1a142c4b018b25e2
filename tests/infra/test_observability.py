"""Template assertions on ``infra.observability.SagaObservability``, synthesized in a small stack of
its own (two functions, two state machines, a dead-letter queue), independent of the app's wiring."""

from __future__ import annotations

import json
from typing import Any

import pytest

import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)

pytestmark = pytest.mark.infra


def _build(outdir: str | None = None) -> tuple[Any, Any]:
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs
    from aws_cdk import aws_stepfunctions as sfn

    from infra.observability import SagaObservability

    app = App(outdir=outdir)
    stack = Stack(app, "ObsTest")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return event\n")
    first = lambda_.Function(
        stack, "FirstFunction", runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code
    )
    second = lambda_.Function(
        stack, "SecondFunction", runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code
    )
    machines = {
        name: sfn.StateMachine(
            stack,
            f"{name.title().replace('-', '')}Machine",
            state_machine_name=f"ObsTest-{name}",
            definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, f"{name}Pass")),
        )
        for name in ("test-generation", "multi-project")
    }
    dead_letters = sqs.Queue(stack, "CompensationDeadLetterQueue")
    observability = SagaObservability(
        stack,
        "Observability",
        state_machines=machines,
        functions=[first, second, first],  # a function shared by two states is listed twice
        code=code,
        environment={"POWERTOOLS_METRICS_NAMESPACE": "StepSaga"},
        dead_letters=dead_letters,
        state_machine_prefix="ObsTest-",
    )
    return stack, observability


@pytest.fixture(scope="module")
def built() -> tuple[Any, dict[str, Any]]:
    from aws_cdk.assertions import Template

    stack, observability = _build()
    return observability, dict(Template.from_stack(stack).to_json())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _logical_id(template: dict[str, Any], kind: str, fragment: str) -> str:
    [found] = [k for k in _resources(template, kind) if fragment in k]
    return found


def test_the_audit_table_is_keyed_encrypted_recoverable_and_retained(built):
    _, template = built
    table_id = _logical_id(template, "AWS::DynamoDB::Table", "AuditTable")
    table = template["Resources"][table_id]
    properties = table["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": "saga_id", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionPolicy"] == "Retain"


def test_the_active_sagas_table_expires_execution_items(built):
    _, template = built
    table_id = _logical_id(template, "AWS::DynamoDB::Table", "ActiveSagasTable")
    properties = template["Resources"][table_id]["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_rule_sends_the_stacks_execution_status_changes_to_the_handler(built):
    _, template = built
    [rule] = _resources(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    machine_ids = sorted(_resources(template, "AWS::StepFunctions::StateMachine"))
    assert sorted(ref["Ref"] for ref in pattern["detail"]["stateMachineArn"]) == machine_ids
    [target] = rule["Properties"]["Targets"]
    function_id = _logical_id(template, "AWS::Lambda::Function", "SagaEventsFunction")
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 6 * 3600
    queue_id = _logical_id(template, "AWS::SQS::Queue", "SagaEventsDeadLetterQueue")
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_the_handler_knows_its_tables_and_the_machine_prefix(built):
    _, template = built
    function_id = _logical_id(template, "AWS::Lambda::Function", "SagaEventsFunction")
    properties = template["Resources"][function_id]["Properties"]
    assert properties["Handler"] == "functions.handlers.saga_events.handler"
    variables = properties["Environment"]["Variables"]
    assert variables["AUDIT_TABLE"] == {"Ref": _logical_id(template, "AWS::DynamoDB::Table", "AuditTable")}
    assert variables["ACTIVE_SAGAS_TABLE"] == {
        "Ref": _logical_id(template, "AWS::DynamoDB::Table", "ActiveSagasTable")
    }
    assert variables["STATE_MACHINE_PREFIX"] == "ObsTest-"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "SagaEvents"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "StepSaga"
    queue_id = _logical_id(template, "AWS::SQS::Queue", "SagaEventsDeadLetterQueue")
    assert properties["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def _actions_on(template: dict[str, Any], role_fragment: str, table_id: str) -> set[str]:
    actions: set[str] = set()
    for policy in _resources(template, "AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if not any(role_fragment in r for r in roles):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if table_id in json.dumps(statement["Resource"]):
                granted = statement["Action"]
                actions |= {granted} if isinstance(granted, str) else set(granted)
    return actions


def test_writers_get_append_only_access_to_the_audit_table(built):
    observability, template = built
    audit_id = _logical_id(template, "AWS::DynamoDB::Table", "AuditTable")
    for name in ("FirstFunction", "SecondFunction", "SagaEventsFunction"):
        assert _actions_on(template, name, audit_id) == {"dynamodb:PutItem"}, name
    assert len(observability.audited) == 2
    for name in ("FirstFunction", "SecondFunction"):
        function_id = _logical_id(template, "AWS::Lambda::Function", name)
        variables = template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert variables["AUDIT_TABLE"] == {"Ref": audit_id}
    active_id = _logical_id(template, "AWS::DynamoDB::Table", "ActiveSagasTable")
    assert _actions_on(template, "SagaEventsFunction", active_id) == {
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
    }


def _dashboard_body(template: dict[str, Any]) -> str:
    [dashboard] = _resources(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, str):
        return body
    parts = body["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)


def test_the_dashboard_has_every_panel(built):
    _, template = built
    body = _dashboard_body(template)
    for title in (
        "Success rate (%)",
        "Active sagas",
        "Duration p95 (ExecutionTime)",
        "Compensation rate (%)",
        "Step failures by step and error",
        "Throttles",
        "Dead-letter queue depth",
    ):
        assert f'"title":"{title}"' in body, title
    for metric in (
        "SagasSucceeded",
        "SagasRolledBack",
        "SagasCompensationFailed",
        "SagasFailed",
        "ActiveSagas",
        "ExecutionTime",
        "StepFailed",
        "ExecutionThrottled",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert metric in body, metric
    assert '"stat":"p95"' in body
    for saga_type in ("test-generation", "multi-project"):  # one line per saga type, by dimension
        assert f'"saga_type","{saga_type}"' in body, saga_type


def test_the_construct_adds_no_cdk_nag_finding_the_app_does_not_already_acknowledge(tmp_path):
    from aws_cdk import Acknowledgment, Validations
    from cdk_nag import AwsSolutionsChecks

    stack, _ = _build(str(tmp_path))
    app = stack.node.root
    # What infra/nag.py acknowledges stack-wide: the basic execution role, X-Ray's "*", the
    # runtime pinned to the Powertools layer.
    stack_wide = [
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "IAM5[Resource::*]",
        "L1",
    ]
    dummies = {
        "TestGenerationMachine": ["SF1", "SF2"],
        "MultiProjectMachine": ["SF1", "SF2"],
        "CompensationDeadLetterQueue": ["SQS3", "SQS4"],
    }
    scoped = [(stack, f) for f in stack_wide]
    scoped += [(stack.node.find_child(c), f) for c, found in dummies.items() for f in found]
    for scope, finding in scoped:
        Validations.of(scope).acknowledge(
            Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason="as in the app / a test dummy")
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()  # raises ValidationFailed on any unacknowledged finding
