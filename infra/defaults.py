"""The settings every resource of one kind shares in this app: one place to change them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# X-Ray's write actions support no resource-level permissions: they are granted apart, in one
# ``<id>Tracing`` policy per role, so cdk-nag's ``Resource::*`` finding is excused on those alone.
XRAY_WRITE = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# What a state machine's log delivery and traces need; none takes a resource (Step Functions
# developer guide, "Logging using CloudWatch Logs"; X-Ray).
MACHINE_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    *XRAY_WRITE,
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
TRACING = "Tracing"  # the construct id suffix of those policies (infra.nag acknowledges them)


def table(
    scope: Construct,
    construct_id: str,
    partition: str,
    sort: str | None,
    *,
    ttl: str | None = None,
    retain: bool = False,
) -> ddb.Table:
    """On demand, encrypted, with point-in-time recovery; string keys."""
    return ddb.Table(
        scope,
        construct_id,
        partition_key=ddb.Attribute(name=partition, type=ddb.AttributeType.STRING),
        sort_key=ddb.Attribute(name=sort, type=ddb.AttributeType.STRING) if sort else None,
        time_to_live_attribute=ttl,
        billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
        encryption=ddb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
    )


def log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A month of logs, removed with the stack."""
    return logs.LogGroup(
        scope, construct_id, retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
    )


def dead_letter_queue(scope: Construct, construct_id: str, *, fifo_name: str | None = None) -> sqs.Queue:
    """Encrypted, TLS only, kept two weeks: time to read what went wrong and resume.

    With ``fifo_name`` (which must end ``.fifo``) the queue is FIFO, so a sender can
    deduplicate its retries (``MessageDeduplicationId``, 5 minutes). It is named explicitly:
    CloudFormation would add the suffix to a generated name, moto does not.
    """
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        fifo=True if fifo_name else None,
        queue_name=fifo_name,
    )


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    logs_id: str,
    handler: str,
    code: lambda_.Code,
    layers: Sequence[lambda_.ILayerVersion],
    environment: Mapping[str, str],
    timeout: Duration,
    description: str,
    memory_size: int = 256,
    **options: Any,
) -> lambda_.Function:
    """A Python handler of this app: its own log group, X-Ray tracing, the shared runtime.

    Its role is built here rather than by CDK, which would attach AWSLambdaBasicExecutionRole
    (write to *any* log group): it may write only to its own log group, and traces through a
    policy of its own (``tracing_policy``).
    """
    logs_group = log_group(scope, logs_id)
    role = iam.Role(
        scope,
        f"{construct_id}ServiceRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{description}: its own log group, traces, and the grants in infra/permissions.py",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs_group.log_group_arn]
        )
    )
    tracing_policy(scope, f"{construct_id}{TRACING}", role, XRAY_WRITE)
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler=handler,
        code=code,
        layers=list(layers),
        memory_size=memory_size,
        timeout=timeout,
        environment=dict(environment),
        role=role,
        log_group=logs_group,
        description=description,
        **options,
    )
    # Active tracing set on the resource: CDK's ``tracing=`` would add X-Ray to the default policy.
    cfn = function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    cfn.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
    return function


def tracing_policy(
    scope: Construct, construct_id: str, role: iam.IRole, actions: Sequence[str]
) -> iam.Policy:
    """The actions that take no resource (X-Ray, log delivery) on ``*``, alone in their own policy."""
    return iam.Policy(
        scope,
        construct_id,
        roles=[role],
        statements=[iam.PolicyStatement(actions=list(actions), resources=["*"])],
    )
