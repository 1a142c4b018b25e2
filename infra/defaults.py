"""The settings every resource of one kind shares in this app: one place to change them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct


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
    """A Python handler of this app: its own log group, X-Ray tracing, the shared runtime."""
    return lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler=handler,
        code=code,
        layers=list(layers),
        memory_size=memory_size,
        timeout=timeout,
        environment=dict(environment),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group(scope, logs_id),
        description=description,
        **options,
    )
