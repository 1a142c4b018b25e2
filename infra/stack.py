"""The stepsaga stack: one Lambda per agent and per compensation, the data they own, the
state machine compiled from the saga declaration, and the dead-letter queue for sagas
that could not be rolled back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.common.store import KEYS
from infra import names
from statemachines.saga import Saga, function_key, render

ROOT = Path(__file__).resolve().parent.parent
# The Lambda asset is the project root filtered down to the functions/ package, so handler
# paths read ``functions.handlers.<agent>.handler`` on AWS and in-process alike.
ASSET_EXCLUDE = ["*", "!functions", "!functions/**", "**/__pycache__", "**/*.pyc"]
POWERTOOLS_LAYER = (
    "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:{version}"
)


class StepSagaStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        saga: Saga,
        allow_fault_injection: bool = False,
        allowed_private_hosts: str = "",
        powertools_layer_version: int = 27,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.saga = saga

        self.tables = {
            kind: self._table(kind.capitalize(), "saga_id", KEYS[kind]) for kind in names.DATA_KINDS
        }
        self.ledger = self._table("Ledger", "saga_id", "step")
        self.idempotency = ddb.Table(
            self,
            "IdempotencyTable",
            partition_key=ddb.Attribute(name="id", type=ddb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        access_logs = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.artifacts = s3.Bucket(
            self,
            "ArtifactsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.dead_letters = sqs.Queue(
            self,
            "CompensationDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )

        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            POWERTOOLS_LAYER.format(region=self.region, version=powertools_layer_version),
        )
        code = lambda_.Code.from_asset(str(ROOT), exclude=ASSET_EXCLUDE)
        environment = {
            **{names.ENV_TABLE[kind]: table.table_name for kind, table in self.tables.items()},
            names.ENV_TABLE["ledger"]: self.ledger.table_name,
            names.ENV_TABLE["idempotency"]: self.idempotency.table_name,
            names.ENV_ARTIFACTS_BUCKET: self.artifacts.bucket_name,
            names.ENV_DEAD_LETTER_QUEUE_URL: self.dead_letters.queue_url,
            names.ENV_ALLOW_FAULT_INJECTION: "true" if allow_fault_injection else "false",
            names.ENV_ALLOWED_PRIVATE_HOSTS: allowed_private_hosts,
            "POWERTOOLS_METRICS_NAMESPACE": "StepSaga",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        self.functions: dict[str, lambda_.Function] = {}
        for step in saga.steps:
            forward = self._function(step.name, step.handler, code, environment, step.timeout_seconds)
            self._grant_data(forward, owns=step.owns, reads=step.reads)
            self.idempotency.grant_read_write_data(forward)
            if step.compensation:
                undo = self._function(
                    step.compensation_state,
                    step.compensation,
                    code,
                    environment,
                    saga.compensation_timeout_seconds,
                )
                self._grant_compensation(undo, owns=step.owns)
        reporter_state = "ReportCompensationFailure"
        reporter = self._function(reporter_state, saga.failure_reporter, code, environment, 60)
        self.ledger.grant_read_data(reporter)
        self.dead_letters.grant_send_messages(reporter)

        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # A fixed name lets the callback agent's role name the state machine without a
        # dependency cycle (the state machine's definition names the agent's ARN).
        state_machine_name = f"{self.stack_name}-{saga.name}"
        self.state_machine = sfn.StateMachine(
            self,
            "TestGenerationStateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_string(render(saga)),
            definition_substitutions={key: fn.function_arn for key, fn in self.functions.items()},
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        for fn in self.functions.values():
            fn.grant_invoke(self.state_machine)
        state_machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for step in saga.steps:
            if step.is_callback:
                self.functions[function_key(step.name)].add_to_role_policy(
                    iam.PolicyStatement(
                        actions=[
                            "states:SendTaskSuccess",
                            "states:SendTaskFailure",
                            "states:SendTaskHeartbeat",
                        ],
                        resources=[state_machine_arn],
                    )
                )

        CfnOutput(self, names.OUT_STATE_MACHINE, value=self.state_machine.state_machine_arn)
        CfnOutput(self, names.OUT_DEAD_LETTER_QUEUE, value=self.dead_letters.queue_url)
        CfnOutput(self, names.OUT_ARTIFACTS_BUCKET, value=self.artifacts.bucket_name)
        for kind, table in {**self.tables, "ledger": self.ledger}.items():
            CfnOutput(self, f"{names.OUT_TABLE_PREFIX}{kind.capitalize()}", value=table.table_name)

    def _table(self, name: str, partition: str, sort: str) -> ddb.Table:
        return ddb.Table(
            self,
            f"{name}Table",
            partition_key=ddb.Attribute(name=partition, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name=sort, type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _function(
        self, state: str, handler: str, code: lambda_.Code, environment: dict[str, str], timeout_seconds: int
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{state}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        fn = lambda_.Function(
            self,
            f"{state}Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler=handler,
            code=code,
            layers=[self.powertools],
            memory_size=256,
            timeout=Duration.seconds(min(timeout_seconds, 900)),
            environment={**environment, "POWERTOOLS_SERVICE_NAME": state},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            # Callback steps are invoked asynchronously: a duplicate is handled by idempotency,
            # and Lambda's own async retries would only add duplicates.
            retry_attempts=0,
            description=f"stepsaga {state}",
        )
        self.functions[function_key(state)] = fn
        return fn

    def _grant_data(self, fn: lambda_.Function, *, owns: tuple[str, ...], reads: tuple[str, ...]) -> None:
        """A forward step writes its own data and the ledger, and reads what it declares."""
        self.ledger.grant_read_write_data(fn)
        for kind in owns:
            if kind == "artifacts":
                self.artifacts.grant_put(fn, "runs/*")
            else:
                self.tables[kind].grant_read_write_data(fn)
        for kind in reads:
            self.tables[kind].grant_read_data(fn)

    def _grant_compensation(self, fn: lambda_.Function, *, owns: tuple[str, ...]) -> None:
        """A compensation reads the ledger and undoes only the data its step owns."""
        self.ledger.grant_read_write_data(fn)
        for kind in owns:
            if kind == "artifacts":
                self.artifacts.grant_delete(fn, "runs/*")
            else:
                self.tables[kind].grant(fn, "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:UpdateItem")
