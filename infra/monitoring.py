"""Alarms that wake an operator: a saga that could not be rolled back above all.

Every alarm notifies one SNS topic (encrypted, TLS-only). With a topic policy in place
CloudWatch may publish only if the policy allows it, and the topic's key must let it encrypt:
both allow ``cloudwatch.amazonaws.com`` for this account's alarms of this construct only
(``aws:SourceAccount``, ``aws:SourceArn``). The alarms are named so their ARNs are known
without referring to them (the key policy cannot: alarm -> topic -> key would be a cycle).

A saga that ends CompensationFailed raises its type's alarm from SagaEvents' metric, which
comes from the execution's own end, not from ReportCompensationFailure having run.
moto's CloudFormation skips alarms, so these are asserted on the template (tests/infra).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.common.names import (
    METRIC_COMPENSATION_FAILED,
    METRIC_NAMESPACE,
    METRIC_SAGAS_COMPENSATION_FAILED,
    METRIC_SAGAS_ROLLED_BACK,
    METRIC_SAGAS_STARTED,
)
from infra.names import camel
from infra.observability import SERVICE as SAGA_EVENTS_SERVICE
from statemachines.saga import REPORT_COMPENSATION_FAILURE


class SagaAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dead_letters: sqs.IQueue,
        state_machines: dict[str, sfn.StateMachine],
        failure_rate_threshold: float = 0.1,
        compensation_rate_threshold: float = 0.2,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="stepsaga alarm topic")
        self.topic = sns.Topic(
            self, "AlarmTopic", master_key=key, enforce_ssl=True, display_name="stepsaga alarms"
        )
        notify = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self.alarm_arns: list[str] = []
        stack = Stack.of(self)

        def alarm(name: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            alarm_name = f"{stack.stack_name}-{name}"
            created = cloudwatch.Alarm(
                self,
                name,
                alarm_name=alarm_name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(notify)
            self.alarms.append(created)
            self.alarm_arns.append(
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=alarm_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            )

        alarm(
            "CompensationFailedAlarm",
            cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=METRIC_COMPENSATION_FAILED,
                statistic="Sum",
                period=Duration.minutes(1),
                # The reporter's service name is its state's name (infra/stack.py).
                dimensions_map={"service": REPORT_COMPENSATION_FAILURE},
            ),
            1,
            "A saga ended CompensationFailed: see the dead-letter queue and resume it (README).",
        )
        alarm(
            "DeadLettersPresentAlarm",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Max"
            ),
            1,
            "Sagas wait on the compensation dead-letter queue for a resume.",
        )
        for name, machine in state_machines.items():
            prefix = camel(name)
            failure_rate = cloudwatch.MathExpression(
                expression="IF(started > 0, failed / started, 0)",
                using_metrics={
                    "failed": machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                    "started": machine.metric_started(period=Duration.minutes(5), statistic="Sum"),
                },
                period=Duration.minutes(5),
            )
            alarm(
                f"{prefix}FailureRateAlarm",
                failure_rate,
                failure_rate_threshold,
                f"More than {failure_rate_threshold:.0%} of {name} sagas failed in 5 minutes.",
            )
            lifecycle = {
                key: cloudwatch.Metric(
                    namespace=METRIC_NAMESPACE,
                    metric_name=metric_name,
                    statistic="Sum",
                    period=Duration.minutes(15),
                    # What the SagaEvents function emits (functions.audit.saga_events).
                    dimensions_map={"saga_type": name, "service": SAGA_EVENTS_SERVICE},
                )
                for key, metric_name in (
                    ("rolled", METRIC_SAGAS_ROLLED_BACK),
                    ("stuck", METRIC_SAGAS_COMPENSATION_FAILED),
                    ("started", METRIC_SAGAS_STARTED),
                )
            }
            alarm(
                f"{prefix}CompensationRateAlarm",
                cloudwatch.MathExpression(
                    expression="IF(started > 0, (rolled + stuck) / started, 0)",
                    using_metrics=lifecycle,
                    period=Duration.minutes(15),
                ),
                compensation_rate_threshold,
                f"Over {compensation_rate_threshold:.0%} of {name} sagas were compensated in 15 minutes.",
            )
            alarm(
                f"{prefix}ThrottledAlarm",
                machine.metric_throttled(period=Duration.minutes(5), statistic="Sum"),
                1,
                f"{name} executions were throttled.",
            )
            alarm(
                f"{prefix}CompensationFailedAlarm",
                lifecycle["stuck"].with_(period=Duration.minutes(1)),
                1,
                f"A {name} saga ended CompensationFailed: see the dead-letter queue and resume it (README).",
            )

        # Only CloudWatch, for these alarms of this account, may publish and use the key.
        cloudwatch_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnEquals": {"aws:SourceArn": self.alarm_arns},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=cloudwatch_alarms,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncrypt",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                # What publishing to an encrypted topic needs (SNS developer guide, "Encryption").
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy: this key
                conditions=cloudwatch_alarms,
            )
        )
