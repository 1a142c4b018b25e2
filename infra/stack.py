"""The stepsaga stack: one Lambda per agent and per compensation, the data they own, a state
machine per saga declaration (compiled ASL, function ARNs substituted), and the dead-letter
queue for sagas that could not be rolled back.

Versioning: every state machine publishes a version whenever its definition changes and a
``live`` alias points at it, and every definition names *version* ARNs of its functions
(``currentVersion``), so an in-flight execution keeps running the code it started with
(CDK does not do this by default: aws-cdk#17515). See README, "Versioned deployments".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.common.names import (
    DEAD_LETTER_CLAIM_PREFIX,
    ENV_ALLOW_FAULT_INJECTION,
    ENV_ALLOWED_PRIVATE_HOSTS,
    ENV_ARTIFACTS_BUCKET,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    ENV_TABLE,
    METRIC_NAMESPACE,
    TEST_GENERATION,
)
from functions.common.store import KEYS, LEDGER_BY_SAGA, LEDGER_KEY, ledger_entry
from infra import arns, defaults, names
from infra.api import SagaApi
from infra.monitoring import SagaAlarms
from infra.observability import SagaObservability
from statemachines.catalogue import PARENTS, SAGAS, machines
from statemachines.parent import state_machine_key
from statemachines.saga import PLACEHOLDER, REPORT_COMPENSATION_FAILURE, Saga, Step, function_key

ROOT = Path(__file__).resolve().parent.parent
# The Lambda asset is the project root filtered down to the functions/ package, so handler
# paths read ``functions.handlers.<agent>.handler`` on AWS and in-process alike.
ASSET_EXCLUDE = ["*", "!functions", "!functions/**", "**/__pycache__", "**/*.pyc"]
# How each kind of data is undone: scenarios are deleted, tests and runs only marked
# (INVALID, CLEANED; functions.agents.*.undo); reports are never undone.
UNDO = {"scenarios": "dynamodb:DeleteItem", "tests": "dynamodb:UpdateItem", "runs": "dynamodb:UpdateItem"}
POWERTOOLS_LAYER = (
    "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:{version}"
)


class StepSagaStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        allow_fault_injection: bool = False,
        allowed_private_hosts: str = "",
        powertools_layer_version: int = 27,
        api_key_auth: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.tables = {
            kind: self._table(kind.capitalize(), "saga_id", KEYS[kind]) for kind in names.DATA_KINDS
        }
        # Keyed <step>#<saga_id> so IAM can hold each step to its own entries (functions.common.store).
        self.ledger = self._table("Ledger", LEDGER_KEY, None)
        self.ledger.add_global_secondary_index(
            index_name=LEDGER_BY_SAGA,
            partition_key=ddb.Attribute(name="saga_id", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="step", type=ddb.AttributeType.STRING),
        )
        self.ledger_index_arn = f"{self.ledger.table_arn}/index/{LEDGER_BY_SAGA}"
        self.sagas = self._table("Sagas", "saga_id", None)
        self.idempotency = self._table("Idempotency", "id", None, ttl="expiration")
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
        # FIFO: the senders deduplicate per execution (functions.agents.compensation_failure).
        self.dead_letters = defaults.dead_letter_queue(
            self, "CompensationDeadLetterQueue", fifo_name=f"{self.stack_name}-CompensationDeadLetters.fifo"
        )
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            POWERTOOLS_LAYER.format(region=self.region, version=powertools_layer_version),
        )
        self._code = lambda_.Code.from_asset(str(ROOT), exclude=ASSET_EXCLUDE)
        self._environment = {
            **{ENV_TABLE[kind]: table.table_name for kind, table in self.tables.items()},
            ENV_TABLE["ledger"]: self.ledger.table_name,
            ENV_TABLE["idempotency"]: self.idempotency.table_name,
            ENV_TABLE["sagas"]: self.sagas.table_name,
            ENV_ARTIFACTS_BUCKET: self.artifacts.bucket_name,
            ENV_DEAD_LETTER_QUEUE_URL: self.dead_letters.queue_url,
            ENV_ALLOW_FAULT_INJECTION: "true" if allow_fault_injection else "false",
            ENV_ALLOWED_PRIVATE_HOSTS: allowed_private_hosts,
            ENV_METRICS_NAMESPACE: METRIC_NAMESPACE,
            ENV_LOG_LEVEL: "INFO",
        }
        # One function per handler (agents are shared by every saga that uses them).
        self.functions: dict[str, lambda_.Function] = {}
        self._by_handler: dict[str, lambda_.Function] = {}
        self._granted: set[tuple[str, str]] = set()
        for saga in SAGAS.values():
            self._saga_functions(saga)
        for parent in PARENTS.values():
            for key, handler in parent.functions().items():
                self._function(key.removesuffix("FunctionArn"), handler, 60)

        self.state_machines: dict[str, sfn.StateMachine] = {}
        self.aliases: dict[str, sfn.CfnStateMachineAlias] = {}
        for name, compile_machine in machines().items():  # children before the parents that start them
            self._state_machine(name, compile_machine())
        for parent in PARENTS.values():
            self._allow_starting(self.state_machines[parent.name], list(parent.state_machines()))
        for step in (s for saga in SAGAS.values() for s in saga.steps if s.is_callback):
            self._allow_answering(self._by_handler[step.handler], step.handler)

        self.state_machine = self.state_machines[TEST_GENERATION]
        self.monitoring = SagaAlarms(
            self, "Alarms", dead_letters=self.dead_letters, state_machines=self.state_machines
        )
        for name, machine in self.state_machines.items():
            CfnOutput(self, names.state_machine_output(name), value=machine.state_machine_arn)
            CfnOutput(self, names.alias_output(name), value=self.aliases[name].attr_arn)
        CfnOutput(self, names.OUT_DEAD_LETTER_QUEUE, value=self.dead_letters.queue_url)
        CfnOutput(self, names.OUT_ARTIFACTS_BUCKET, value=self.artifacts.bucket_name)
        for kind, table in {**self.tables, "ledger": self.ledger, "sagas": self.sagas}.items():
            CfnOutput(self, f"{names.OUT_TABLE_PREFIX}{kind.capitalize()}", value=table.table_name)
        self.api = SagaApi(
            self,
            "Api",
            sagas=SAGAS,
            parents=PARENTS,
            state_machines=self.state_machines,
            code=self._code,
            layers=[self.powertools],
            environment=self._environment,
            saga_records=self.sagas,
            ledger_index_arn=self.ledger_index_arn,
            api_key_auth=api_key_auth,
        )
        self.observability = SagaObservability(
            self,
            "Observability",
            state_machines=self.state_machines,
            functions=[*self.functions.values(), self.api.function],
            code=self._code,
            layers=[self.powertools],
            environment=self._environment,
            dead_letters=self.dead_letters,
            state_machine_prefix=arns.machine_prefix(self),
        )
        self.observability.grant_audit_read(self.api.function)
        # Status shows a saga's outcome: its analysis and evolution reports.
        self._allow(self.api.function, ["dynamodb:Query"], [self.tables["reports"].table_arn])
        # SagaEvents sends the dead letter of a CompensationFailed saga the reporter did not.
        self._read_ledger(self.observability.function)
        self._allow(self.observability.function, ["sqs:SendMessage"], [self.dead_letters.queue_arn])
        self._grant_dead_letter_claims(self.observability.function)
        self._allow_describing(self.observability.function)
        CfnOutput(self, f"{names.OUT_TABLE_PREFIX}Audit", value=self.observability.audit_table.table_name)
        CfnOutput(
            self, f"{names.OUT_TABLE_PREFIX}Activesagas", value=self.observability.active_table.table_name
        )

    # -- data --------------------------------------------------------------------------------
    def _table(self, name: str, partition: str, sort: str | None, ttl: str | None = None) -> ddb.Table:
        return defaults.table(self, f"{name}Table", partition, sort, ttl=ttl)

    # -- functions ---------------------------------------------------------------------------
    # Each function is granted what its code calls, on the items it may touch; the declared
    # allow-list (infra/permissions.py) is what tests/infra/test_permissions.py holds them to.
    def _saga_functions(self, saga: Saga) -> None:
        for step in saga.steps:
            for state, handler in step.task_states.items():
                fn = self._function(state, handler, step.timeout_seconds)
                if step.each is not None and handler == step.each.policy_handler:
                    # The policy compares generated tests with recorded runs: read-only.
                    if self._once(fn, "policy"):
                        for kind in ("tests", "runs"):
                            self._allow(fn, ["dynamodb:Query"], [self.tables[kind].table_arn])
                    continue
                self._grant_forward(fn, step)
            if step.compensation:
                undo = self._function(
                    step.compensation_state, step.compensation, saga.compensation_timeout_seconds
                )
                self._grant_compensation(undo, step)
        reporter = self._function(REPORT_COMPENSATION_FAILURE, saga.failure_reporter, 60)
        if self._once(reporter, "reporter"):
            self._read_ledger(reporter)
            self._allow(reporter, ["sqs:SendMessage"], [self.dead_letters.queue_arn])
            self._grant_dead_letter_claims(reporter)
            self._allow_describing(reporter)

    def _allow(
        self,
        fn: lambda_.IFunction,
        actions: list[str],
        resources: list[str],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
        )

    def _allow_items(
        self, fn: lambda_.IFunction, table: ddb.ITable, actions: list[str], leading: str
    ) -> None:
        """``actions`` on the items of ``table`` whose partition key starts with ``leading``."""
        self._allow(
            fn,
            actions,
            [table.table_arn],
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{leading}*"]}},
        )

    def _allow_describing(self, fn: lambda_.IFunction) -> None:
        """DescribeExecution on the stack's executions: to believe only events Step Functions confirms."""
        self._allow(
            fn, ["states:DescribeExecution"], [arns.executions_arn(self, name) for name in machines()]
        )

    def _read_ledger(self, fn: lambda_.IFunction) -> None:
        """Every step's entries of a saga, through the index: read-only, and no agent has it."""
        self._allow(fn, ["dynamodb:Query"], [self.ledger_index_arn])

    def _grant_dead_letter_claims(self, fn: lambda_.IFunction) -> None:
        """Read and write the "dead letter sent" claims, and no other Idempotency item."""
        self._allow_items(
            fn, self.idempotency, ["dynamodb:GetItem", "dynamodb:PutItem"], DEAD_LETTER_CLAIM_PREFIX
        )

    def _function(self, state: str, handler: str, timeout_seconds: int) -> lambda_.Function:
        fn = self._by_handler.get(handler)
        if fn is None:
            fn = defaults.python_function(
                self,
                f"{state}Function",
                logs_id=f"{state}Logs",
                handler=handler,
                code=self._code,
                layers=[self.powertools],
                timeout=Duration.seconds(min(timeout_seconds, 900)),
                environment={**self._environment, ENV_SERVICE_NAME: state},
                description=f"stepsaga {state}",
                # Callback steps are invoked asynchronously: a duplicate is handled by idempotency,
                # and Lambda's own async retries would only add duplicates.
                retry_attempts=0,
                # The state machines invoke versions: the async setting must be on them too.
                current_version_options=lambda_.VersionOptions(retry_attempts=0),
            )
            self._by_handler[handler] = fn
        self.functions[function_key(state)] = fn
        return fn

    def _once(self, fn: lambda_.Function, grant: str) -> bool:
        key = (fn.node.id, grant)
        if key in self._granted:
            return False
        self._granted.add(key)
        return True

    def _grant_forward(self, fn: lambda_.Function, step: Step) -> None:
        """What a forward step's code calls: its own ledger entries (``SagaStore.record``, in
        transactions of UpdateItem on the entry and PutItem on its data), puts of the data it
        owns, and reads of the data it declares (Query; one item by GetItem for a Map item)."""
        if not self._once(fn, "forward"):
            return
        if step.gate:
            # The gate only stores its task token with the saga (SagaRecords.await_approval).
            self._allow(fn, ["dynamodb:UpdateItem"], [self.sagas.table_arn])
            return
        item_task = step.each is not None
        self._allow_items(fn, self.ledger, ["dynamodb:UpdateItem"], ledger_entry(step.name, ""))
        for kind in step.owns:
            if kind == "artifacts":
                # A fenced attempt of the whole step deletes what it put (agents.execution.run).
                actions = ["s3:PutObject"] if item_task else ["s3:PutObject", "s3:DeleteObject"]
                self._allow(fn, actions, [self.artifacts.arn_for_objects("runs/*")])
            else:
                self._allow(fn, ["dynamodb:PutItem"], [self.tables[kind].table_arn])
        for kind in step.reads:
            if kind == "sagas":
                self._read_priority(fn)
            else:
                read = "dynamodb:GetItem" if item_task else "dynamodb:Query"
                self._allow(fn, [read], [self.tables[kind].table_arn])
        if step.is_callback:
            # Powertools idempotency records, keyed <state>#<hash> (functions.handlers.base);
            # a callback step's state is its name.
            self._allow_items(
                fn,
                self.idempotency,
                ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                f"{step.name}#",
            )

    def _read_priority(self, fn: lambda_.Function) -> None:
        """A saga's priority and nothing else of its record: never the approval task token."""
        self._allow(
            fn,
            ["dynamodb:GetItem"],
            [self.sagas.table_arn],
            {
                "ForAllValues:StringEquals": {"dynamodb:Attributes": ["saga_id", "priority"]},
                "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
            },
        )

    def _grant_compensation(self, fn: lambda_.Function, step: Step) -> None:
        """What a compensation's code calls: fence and close its step's ledger entries
        (UpdateItem; GetItem when already closed; BatchGetItem for its chunks of created ids),
        then delete or mark what the step made."""
        if not self._once(fn, "compensation"):
            return
        self._allow_items(
            fn,
            self.ledger,
            ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
            ledger_entry(step.name, ""),
        )
        for kind in step.owns:
            if kind == "artifacts":
                self._allow(fn, ["s3:DeleteObject"], [self.artifacts.arn_for_objects("runs/*")])
                # List the saga's own prefix: sweep what the ledger may lack.
                self._allow(
                    fn,
                    ["s3:ListBucket"],
                    [self.artifacts.bucket_arn],
                    {"StringLike": {"s3:prefix": ["runs/*"]}},
                )
            else:
                self._allow(fn, [UNDO[kind]], [self.tables[kind].table_arn])

    # -- state machines ------------------------------------------------------------------------
    def _state_machine(self, name: str, definition: dict[str, Any]) -> None:
        text = json.dumps(definition, indent=2)
        substitutions: dict[str, str] = {}
        for key in sorted(set(PLACEHOLDER.findall(text))):
            if key in self.functions:
                # A version ARN: executions keep the code they started with.
                substitutions[key] = self.functions[key].current_version.function_arn
            else:
                [other] = [n for n in self.state_machines if state_machine_key(n) == key]
                substitutions[key] = self.state_machines[other].state_machine_arn
        construct_id = names.camel(name)
        log_group = defaults.log_group(self, f"{construct_id}StateMachineLogs")
        machine = sfn.StateMachine(
            self,
            f"{construct_id}StateMachine",
            # A fixed name lets roles name the machine without a dependency cycle.
            state_machine_name=arns.machine_name(self, name),
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
        )
        # Logs and traces set on the resource, their '*' actions in a policy of their own:
        # CDK's ``logs=``/``tracing_enabled=`` would put them in the role's default policy.
        cfn = machine.node.default_child
        assert isinstance(cfn, sfn.CfnStateMachine)
        cfn.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
        cfn.logging_configuration = sfn.CfnStateMachine.LoggingConfigurationProperty(
            destinations=[
                sfn.CfnStateMachine.LogDestinationProperty(
                    cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                        log_group_arn=log_group.log_group_arn
                    )
                )
            ],
            include_execution_data=True,
            level="ALL",
        )
        delivery = defaults.tracing_policy(
            self, f"{construct_id}StateMachine{defaults.TRACING}", machine.role, defaults.MACHINE_DELIVERY
        )
        cfn.node.add_dependency(delivery)  # the machine validates its log delivery when created
        for key, arn in substitutions.items():
            if key in self.functions:
                machine.add_to_role_policy(
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[arn])
                )
        version = sfn.CfnStateMachineVersion(
            self,
            f"{construct_id}Version",
            state_machine_arn=machine.state_machine_arn,
            state_machine_revision_id=machine.state_machine_revision_id,
            description="Published by cdk deploy whenever the definition changes",
        )
        self.aliases[name] = sfn.CfnStateMachineAlias(
            self,
            f"{construct_id}LiveAlias",
            name="live",
            description="What clients start; move it to roll forward or back",
            routing_configuration=[
                sfn.CfnStateMachineAlias.RoutingConfigurationVersionProperty(
                    state_machine_version_arn=version.attr_arn, weight=100
                )
            ],
        )
        self.state_machines[name] = machine

    def _allow_starting(self, parent: sfn.StateMachine, children: list[str]) -> None:
        """What ``startExecution.sync:2`` needs: start, watch and stop the children."""
        parent.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[self.state_machines[c].state_machine_arn for c in children],
            )
        )
        parent.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[arns.executions_arn(self, c) for c in children],
            )
        )
        parent.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    self.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForStepFunctionsExecutionRule",
                    )
                ],
            )
        )

    def _allow_answering(self, fn: lambda_.Function, handler: str) -> None:
        """The callback agent answers its own task token, on the machines that call it only.

        IAM cannot tell one token from another: an agent holding this may answer any task of
        those machines *whose token it has*. So no token is ever readable by an agent: the
        approval gate's is in the Sagas table, of which agents read only the priority.
        """
        if not self._once(fn, "answer"):
            return
        callers = [
            s.name for s in SAGAS.values() if any(t.handler == handler and t.is_callback for t in s.steps)
        ]
        self._allow(
            fn,
            ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            [arns.machine_arn(self, name) for name in callers],
        )
