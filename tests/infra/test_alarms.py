"""The alarms reach someone (issue 12, items 3 and 4), read off the synthesized template.

CloudWatch publishes to a topic with a policy only where the policy allows it, and to an
encrypted topic only where the key lets it; both are limited to this stack's alarms. Every
saga type has an alarm on SagaEvents' SagasCompensationFailed, which does not depend on
ReportCompensationFailure having run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

import functions
from functions.common import names as function_names
from functions.common.names import METRIC_NAMESPACE
from infra import names
from infra.observability import SERVICE as SAGA_EVENTS
from statemachines.catalogue import machines
from stepsaga.embedded.stack import EMBEDDED_CONTEXT
from stepsaga.embedded.synth import cloud_assembly

pytestmark = pytest.mark.infra

ALARM = "AWS::CloudWatch::Alarm"
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}


@pytest.fixture(scope="module")
def template() -> Template:
    path = cloud_assembly(EMBEDDED_CONTEXT) / f"{names.STACK_NAME}.template.json"
    return Template.from_json(json.loads(path.read_text()))


def rendered(value: Any) -> Any:
    """A template value with ``Ref`` as ``${Name}`` and ``Fn::Join`` joined, to compare ARNs."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(rendered(p)) for p in parts)
    if isinstance(value, list):
        return [rendered(v) for v in value]
    return value


def alarm_arns(template: Template) -> set[str]:
    """The ARN of every alarm in the template, from its name."""
    arns = set()
    for logical_id, alarm in template.find_resources(ALARM).items():
        name = alarm["Properties"].get("AlarmName")
        assert isinstance(name, str), f"{logical_id} has no fixed name: its ARN is unknown to the policies"
        arns.add(f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{name}")
    return arns


def cloudwatch_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s.get("Principal") == CLOUDWATCH]


def assert_only_this_accounts_alarms(statement: dict[str, Any], template: Template) -> None:
    assert statement["Effect"] == "Allow"
    conditions = statement["Condition"]
    assert set(conditions) == {"StringEquals", "ArnEquals"}, conditions
    assert conditions["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert set(conditions["ArnEquals"]) == {"aws:SourceArn"}
    source_arns = rendered(conditions["ArnEquals"]["aws:SourceArn"])
    assert sorted(source_arns) == sorted(alarm_arns(template))


def test_cloudwatch_may_publish_to_the_alarm_topic_for_this_stacks_alarms_only(template):
    topic = template.get_resource_id("AWS::SNS::Topic")
    [policy] = template.find_resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic}]
    [publish] = cloudwatch_statements(policy["Properties"]["PolicyDocument"])
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": topic}
    assert_only_this_accounts_alarms(publish, template)
    # The TLS-only Deny is still there.
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_the_topic_key_lets_cloudwatch_encrypt_under_the_same_conditions(template):
    topic_key = template.find_resources("AWS::SNS::Topic").popitem()[1]["Properties"]["KmsMasterKeyId"]
    key = template.find_resources("AWS::KMS::Key")[topic_key["Fn::GetAtt"][0]]
    [grant] = cloudwatch_statements(key["Properties"]["KeyPolicy"])
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert_only_this_accounts_alarms(grant, template)


@pytest.mark.parametrize("name", list(machines()))
def test_every_compensation_failed_saga_raises_its_types_alarm(template, name):
    """A single-metric alarm (not a rate: one stuck saga among many is enough) on SagaEvents'
    outcome metric, which needs no ReportCompensationFailure."""
    template.has_resource_properties(
        ALARM,
        {
            "MetricName": "SagasCompensationFailed",
            "Namespace": "StepSaga",
            "Dimensions": Match.array_equals(
                [{"Name": "saga_type", "Value": name}, {"Name": "service", "Value": SAGA_EVENTS}]
            ),
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
            "AlarmActions": [{"Ref": template.get_resource_id("AWS::SNS::Topic")}],
        },
    )


def metrics_read(template: Template) -> set[str]:
    """The name of every StepSaga metric the template's alarms and dashboard read."""
    found: set[str] = set()
    for alarm in template.find_resources(ALARM).values():
        props = alarm["Properties"]
        stats = [props] + [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        found |= {s["MetricName"] for s in stats if s.get("Namespace") == METRIC_NAMESPACE}
    for dashboard in template.find_resources("AWS::CloudWatch::Dashboard").values():
        body = json.dumps(dashboard["Properties"]["DashboardBody"])  # a Fn::Join: its parts, quoted
        found |= set(re.findall(rf'\\"{METRIC_NAMESPACE}\\",\\"(\w+)\\"', body))
        found |= set(re.findall(r'MetricName=\\\\\\"(\w+)\\\\\\"', body))  # a SEARCH expression
    return found


def test_every_metric_the_alarms_and_dashboard_read_is_one_the_functions_emit(template):
    # A name typed into infra/ that no function emits would be an alarm that never fires and a
    # graph that stays empty. The names are defined in functions/common/names.py; emitted are
    # those a function passes to ``metric`` by their constant.
    defined = {k: v for k, v in vars(function_names).items() if k.startswith("METRIC_") and type(v) is str}
    source = "\n".join(p.read_text() for p in Path(functions.__file__).parent.rglob("*.py"))
    emitted = {v for k, v in defined.items() if re.search(rf"\bmetric\(\s*{k}\b", source)}
    if re.search(r"\bmetric\(\s*outcome_metric\(", source):  # SagaEvents: one per status change
        emitted |= {*function_names.METRIC_SAGA_OUTCOMES, function_names.METRIC_SAGAS_STARTED}
    read = metrics_read(template)

    assert read <= emitted, read - emitted
    assert {
        function_names.METRIC_SAGAS_COMPENSATION_FAILED,
        function_names.METRIC_ACTIVE_SAGAS,
        function_names.METRIC_STEP_FAILED,
    } <= read
