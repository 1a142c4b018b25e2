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


TABLE = "AWS::DynamoDB::Table"
FUNCTION = "AWS::Lambda::Function"
QUEUE = "AWS::SQS::Queue"


@pytest.fixture(scope="module")
def built() -> tuple[Any, Any]:
    from aws_cdk.assertions import Template

    stack, observability = _build()
    return observability, Template.from_stack(stack)


def _logical_id(template: Any, kind: str, fragment: str) -> str:
    [found] = [k for k in template.find_resources(kind) if fragment in k]
    return found


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _matching(template: Any, kind: str, props: dict[str, Any]) -> list[str]:
    """The logical ids of the resources of ``kind`` whose properties match ``props`` (object-like)."""
    return sorted(template.find_resources(kind, {"Properties": props}))


def test_the_audit_table_is_keyed_encrypted_recoverable_and_retained(built):
    from aws_cdk.assertions import Match

    _, template = built
    table_id = _logical_id(template, TABLE, "AuditTable")
    found = template.find_resources(  # the properties, and that the table outlives the stack
        TABLE,
        {
            "Properties": {
                "KeySchema": Match.exact(
                    [
                        {"AttributeName": "saga_id", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ]
                ),
                "SSESpecification": {"SSEEnabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "BillingMode": "PAY_PER_REQUEST",
            },
            "DeletionPolicy": "Retain",
        },
    )
    assert list(found) == [table_id]


def test_the_active_sagas_table_expires_execution_items(built):
    from aws_cdk.assertions import Match

    _, template = built
    table_id = _logical_id(template, TABLE, "ActiveSagasTable")
    found = _matching(
        template,
        TABLE,
        {
            "KeySchema": Match.exact([{"AttributeName": "id", "KeyType": "HASH"}]),
            "TimeToLiveSpecification": Match.exact({"AttributeName": "expires", "Enabled": True}),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    assert found == [table_id]


def test_the_rule_sends_the_stacks_execution_status_changes_to_the_handler(built):
    from aws_cdk.assertions import Match

    _, template = built
    template.resource_count_is("AWS::Events::Rule", 1)
    function_id = _logical_id(template, FUNCTION, "SagaEventsFunction")
    queue_id = _logical_id(template, QUEUE, "SagaEventsDeadLetterQueue")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
            },
            "Targets": [
                {
                    "Arn": _arn(function_id),
                    "RetryPolicy": {"MaximumEventAgeInSeconds": 6 * 3600},
                    "DeadLetterConfig": {"Arn": _arn(queue_id)},
                }
            ],
        },
    )
    # Every machine of the stack, in any order, and nothing else.
    machine_ids = sorted(template.find_resources("AWS::StepFunctions::StateMachine"))
    for machine_id in machine_ids:
        template.has_resource_properties(
            "AWS::Events::Rule",
            {"EventPattern": {"detail": {"stateMachineArn": Match.array_with([{"Ref": machine_id}])}}},
        )
    [rule] = template.find_resources("AWS::Events::Rule").values()
    assert len(rule["Properties"]["EventPattern"]["detail"]["stateMachineArn"]) == len(machine_ids)


def test_the_handler_knows_its_tables_and_the_machine_prefix(built):
    _, template = built
    function_id = _logical_id(template, FUNCTION, "SagaEventsFunction")
    queue_id = _logical_id(template, QUEUE, "SagaEventsDeadLetterQueue")
    found = _matching(
        template,
        FUNCTION,
        {
            "Handler": "functions.handlers.saga_events.handler",
            "Environment": {
                "Variables": {
                    "AUDIT_TABLE": {"Ref": _logical_id(template, TABLE, "AuditTable")},
                    "ACTIVE_SAGAS_TABLE": {"Ref": _logical_id(template, TABLE, "ActiveSagasTable")},
                    "STATE_MACHINE_PREFIX": "ObsTest-",
                    "POWERTOOLS_SERVICE_NAME": "SagaEvents",
                    "POWERTOOLS_METRICS_NAMESPACE": "StepSaga",
                }
            },
            "DeadLetterConfig": {"TargetArn": _arn(queue_id)},
        },
    )
    assert found == [function_id]


def _actions_on(template: Any, role_fragment: str, table_id: str) -> set[str]:
    """Every action the policies of the roles named like ``role_fragment`` grant on a table."""
    from aws_cdk.assertions import Match

    on_table = Match.object_like({"Resource": Match.array_with([_arn(table_id)])})
    policies = template.find_resources(
        "AWS::IAM::Policy",
        {
            "Properties": {
                "Roles": Match.array_with([{"Ref": Match.string_like_regexp(role_fragment)}]),
                "PolicyDocument": {"Statement": Match.array_with([on_table])},
            }
        },
    )
    actions: set[str] = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if table_id in json.dumps(statement["Resource"]):
                granted = statement["Action"]
                actions |= {granted} if isinstance(granted, str) else set(granted)
    return actions


def test_writers_get_append_only_access_to_the_audit_table(built):
    observability, template = built
    audit_id = _logical_id(template, TABLE, "AuditTable")
    for name in ("FirstFunction", "SecondFunction", "SagaEventsFunction"):
        assert _actions_on(template, name, audit_id) == {"dynamodb:PutItem"}, name
    assert len(observability.audited) == 2
    audited = _matching(
        template, FUNCTION, {"Environment": {"Variables": {"AUDIT_TABLE": {"Ref": audit_id}}}}
    )
    for name in ("FirstFunction", "SecondFunction"):
        assert _logical_id(template, FUNCTION, name) in audited, name
    active_id = _logical_id(template, TABLE, "ActiveSagasTable")
    assert _actions_on(template, "SagaEventsFunction", active_id) == {
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
    }


def _dashboard_body(template: Any) -> str:
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
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
