"""One dead letter per CompensationFailed saga (issue 12, item 4): what the template gives the
two senders, ReportCompensationFailure and SagaEvents (functions.agents.compensation_failure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from functions.common.names import DEAD_LETTER_CLAIM_PREFIX
from infra import names
from stepsaga.embedded.stack import EMBEDDED_CONTEXT
from stepsaga.embedded.synth import cloud_assembly

pytestmark = pytest.mark.infra

SENDERS = ("ReportCompensationFailureFunction", "ObservabilitySagaEventsFunction")


@pytest.fixture(scope="module")
def template() -> Template:
    path = cloud_assembly(EMBEDDED_CONTEXT) / f"{names.STACK_NAME}.template.json"
    return Template.from_json(json.loads(path.read_text()))


def one(template: Template, kind: str, prefix: str) -> str:
    [found] = [k for k in template.find_resources(kind) if k.startswith(prefix)]
    return found


def statements_of(template: Template, function_prefix: str) -> list[dict[str, Any]]:
    function = template.find_resources("AWS::Lambda::Function")[
        one(template, "AWS::Lambda::Function", function_prefix)
    ]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    found = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return [s for policy in found.values() for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def test_the_queue_is_fifo_so_a_senders_retries_are_deduplicated(template):
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"FifoQueue": True, "QueueName": Match.string_like_regexp(r"CompensationDeadLetters\.fifo$")},
    )


@pytest.mark.parametrize("sender", SENDERS)
def test_each_sender_may_send_and_claim_but_touch_no_other_idempotency_item(template, sender):
    statements = statements_of(template, sender)
    queue = one(template, "AWS::SQS::Queue", "CompensationDeadLetterQueue")
    assert any(
        "sqs:SendMessage" in s["Action"] and s["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        for s in statements
    )
    idempotency = one(template, "AWS::DynamoDB::Table", "IdempotencyTable")
    on_idempotency = [s for s in statements if idempotency in json.dumps(s["Resource"])]
    assert on_idempotency, sender
    for statement in on_idempotency:
        assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{DEAD_LETTER_CLAIM_PREFIX}*"]}
        }


def test_saga_events_reads_the_ledger_it_reports(template):
    ledger = one(template, "AWS::DynamoDB::Table", "LedgerTable")
    statements = statements_of(template, "ObservabilitySagaEventsFunction")
    assert any(s["Action"] == "dynamodb:Query" and ledger in json.dumps(s["Resource"]) for s in statements)
