"""The saga HTTP API on API Gateway (REST): every method IAM-authorized (see ``STEERING`` for
API-key mode) and proxied to one
Lambda function (``functions.handlers.api.handler``), with stage throttling, access logs,
execution logs, X-Ray, request validation and JSON error answers from the gateway itself.

Resources and methods come from the route table (``functions.api.routes``), the same one the
Lambda's resolver registers its handlers from. ``SagaApi`` takes what it needs from the stack
as arguments; cdk-nag's findings on it are acknowledged in ``infra.nag``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.api.routes import HANDLER, ROUTES, SERVICE, route
from functions.common.models import MAX_PROJECTS
from functions.common.names import (
    ENV_FAULT_STATES,
    ENV_PARENT_CHILDREN,
    ENV_ROLLBACK_MACHINE_ARNS,
    ENV_SAGA_STEPS,
    ENV_SERVICE_NAME,
    ENV_STATE_MACHINE_ARNS,
)
from infra import arns, defaults
from infra.names import OUT_API_ID, OUT_API_URL
from statemachines.parent import ParentSaga, rollback_name
from statemachines.saga import Saga

STAGE = "v1"
RATE_LIMIT = 50  # requests per second, steady state, for the whole stage
BURST_LIMIT = 100
START_RATE_LIMIT = 10  # POST /sagas starts executions: tighter
START = route("start_saga")
# Signals that decide a saga's course for whoever sends them. With ``-c stepsaga:apiAuth=api-key``
# every method takes the shared key (per-client metering for callers that cannot sign), and
# these take IAM (SigV4) as well: one leaked key must not approve or cancel every saga's gate,
# and a gate's decision stays attributable to a principal.
STEERING = frozenset({"approve", "cancel", "set_priority", "resume"})

# The gateway's own refusals (auth, throttling, validation, size) in the Lambda's error shape.
_ERROR_TEMPLATE = json.dumps(
    {"error": "$context.error.responseType", "message": "$context.error.messageString"}
)
_VALIDATION_TEMPLATE = json.dumps(
    {"error": "ValidationError", "message": "$context.error.validationErrorString"}
)


def _start_model(machines: Sequence[str]) -> apigw.JsonSchema:
    """The outline of POST /sagas the gateway checks; the Lambda checks every field in detail
    (and which of ``request`` and ``projects`` the machine takes)."""
    string = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING)
    request = apigw.JsonSchema(
        type=apigw.JsonSchemaType.OBJECT,
        required=["project", "target_url", "user_stories"],
        properties={
            "project": string,
            "target_url": string,
            "user_stories": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY, min_items=1, max_items=50, items=string
            ),
        },
    )
    project = apigw.JsonSchema(
        type=apigw.JsonSchemaType.OBJECT,
        required=["request"],
        additional_properties=False,
        properties={"request": request},
    )
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="StartSaga",
        type=apigw.JsonSchemaType.OBJECT,
        # No ``required``: which of request and projects the machine takes is the Lambda's to
        # check, with a message naming the field (a gateway's oneOf failure names none).
        additional_properties=False,
        properties={
            "request": request,
            "projects": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY, min_items=1, max_items=MAX_PROJECTS, items=project
            ),
            "faults": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
            "machine": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, enum=list(machines)),
        },
    )


class SagaApi(Construct):
    """The REST API, its Lambda function and its outputs.

    ``sagas`` are the declarations the API starts and steers (their names and steps), ``parents``
    those it starts and reads (sagas of sagas), looked up in ``state_machines``; ``saga_records``
    is the Sagas table (approval gates), ``ledger_index_arn`` the ledger's by-saga index (read).
    The resources are created in ``scope`` beside this construct, not under it: their logical
    IDs stay those the API had before it became a construct, so a deployed API is updated in
    place rather than replaced.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sagas: Mapping[str, Saga],
        parents: Mapping[str, ParentSaga],
        state_machines: Mapping[str, sfn.IStateMachine],
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        saga_records: ddb.ITable,
        ledger_index_arn: str,
        api_key_auth: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._machines = (*sagas, *parents)
        # The rollback machine a resume starts, per saga with something to compensate.
        self._rollbacks = {name: rollback_name(saga) for name, saga in sagas.items() if saga.compensable}
        self._api_key_auth = api_key_auth
        self._methods: dict[str, apigw.Method] = {}
        self._function = self._api_function(
            scope,
            sagas,
            parents,
            self._rollbacks,
            state_machines,
            code,
            layers,
            environment,
            saga_records,
            ledger_index_arn,
        )
        self._rest_api = self._rest(scope, self._machines)
        CfnOutput(scope, OUT_API_URL, value=self._rest_api.url)
        CfnOutput(scope, OUT_API_ID, value=self._rest_api.rest_api_id)

    @property
    def function(self) -> lambda_.Function:
        """The function behind every route."""
        return self._function

    @property
    def rest_api(self) -> apigw.RestApi:
        return self._rest_api

    @property
    def machines(self) -> tuple[str, ...]:
        """The state machines the API starts and reads (it steers the sagas among them)."""
        return self._machines

    @property
    def rollbacks(self) -> tuple[str, ...]:
        """The rollback machines a resume starts (POST /sagas/{id}/resume) and reads."""
        return tuple(self._rollbacks.values())

    @property
    def api_key_auth(self) -> bool:
        """True when methods take an API key (``-c stepsaga:apiAuth=api-key``), and only the
        ``STEERING`` ones IAM auth as well."""
        return self._api_key_auth

    @property
    def methods(self) -> Mapping[str, apigw.Method]:
        """Every method, by operation (a route's handler name)."""
        return self._methods

    def key_only(self, operation: str) -> bool:
        """Whether the method takes the API key alone, without IAM auth."""
        return self._api_key_auth and operation not in STEERING

    def _rest(self, scope: Construct, machines: Sequence[str]) -> apigw.RestApi:
        access_logs = defaults.log_group(scope, "SagaApiAccessLogs")
        api = apigw.RestApi(
            scope,
            "SagaApi",
            rest_api_name=f"{Stack.of(scope).stack_name}-sagas",
            description="Start, inspect and steer stepsaga sagas ("
            + (
                "API key on every method; approve, cancel, priority and resume also IAM (SigV4))"
                if self._api_key_auth
                else "IAM (SigV4) auth)"
            ),
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,  # execution logs need the account's API Gateway logging role
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            default_method_options=apigw.MethodOptions(
                api_key_required=True, authorization_type=apigw.AuthorizationType.NONE
            )
            if self._api_key_auth
            else apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                throttling_rate_limit=RATE_LIMIT,
                throttling_burst_limit=BURST_LIMIT,
                method_options={
                    f"{START.path}/{START.method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=START_RATE_LIMIT, throttling_burst_limit=START_RATE_LIMIT * 2
                    )
                },
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies stay out of the logs
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        api.node.try_remove_child("Endpoint")  # CDK's own URL output: SagaApiUrl names it once
        if self._api_key_auth:
            plan = api.add_usage_plan(
                "SagaApiUsagePlan",
                throttle=apigw.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
                api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
            )
            plan.add_api_key(api.add_api_key("SagaApiKey", description="stepsaga API clients"))
        for response_type in (
            apigw.ResponseType.DEFAULT_4_XX,
            apigw.ResponseType.DEFAULT_5_XX,
            apigw.ResponseType.ACCESS_DENIED,
            apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            apigw.ResponseType.THROTTLED,
            apigw.ResponseType.REQUEST_TOO_LARGE,
        ):
            api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={"application/json": _ERROR_TEMPLATE},
            )
        for response_type in (apigw.ResponseType.BAD_REQUEST_BODY, apigw.ResponseType.BAD_REQUEST_PARAMETERS):
            api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={"application/json": _VALIDATION_TEMPLATE},
            )
        self._add_routes(api, machines)
        return api

    def _add_routes(self, api: apigw.RestApi, machines: Sequence[str]) -> None:
        validate_all = api.add_request_validator(
            "ValidateBodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        validate_parameters = api.add_request_validator(
            "ValidateParameters", validate_request_body=False, validate_request_parameters=True
        )
        # The bodies the gateway checks (an outline); the Lambda checks every body in detail.
        body_models = {
            START.operation: api.add_model(
                "StartSagaModel", content_type="application/json", schema=_start_model(machines)
            )
        }
        integration = apigw.LambdaIntegration(self._function, proxy=True, allow_test_invoke=False)
        resources: dict[str, apigw.IResource] = {"": api.root}

        def resource(path: str) -> apigw.IResource:
            if path not in resources:
                parent, _, part = path.rpartition("/")
                resources[path] = resource(parent).add_resource(part)
            return resources[path]

        for each in ROUTES:
            model = body_models.get(each.operation)
            required = [f"method.request.header.{name}" for name in each.headers]
            required += [f"method.request.path.{name}" for name in each.parameters]
            self._methods[each.operation] = resource(each.path).add_method(
                each.method,
                integration,
                authorization_type=apigw.AuthorizationType.IAM if each.operation in STEERING else None,
                request_validator=validate_all if model else validate_parameters,
                request_models={"application/json": model} if model else None,
                request_parameters=dict.fromkeys(required, True) or None,
            )

    @staticmethod
    def _api_function(
        scope: Construct,
        sagas: Mapping[str, Saga],
        parents: Mapping[str, ParentSaga],
        rollbacks: Mapping[str, str],
        state_machines: Mapping[str, sfn.IStateMachine],
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        saga_records: ddb.ITable,
        ledger_index_arn: str,
    ) -> lambda_.Function:
        started = (*sagas, *parents)
        machine_arns = {name: state_machines[name].state_machine_arn for name in started}
        steps = {name: [step.name for step in saga.steps if not step.gate] for name, saga in sagas.items()}
        # The states a saga's faults may name: each step's task (per item for a Map) and compensation.
        fault_states = {
            name: [s.each.item_state if s.each else s.name for s in saga.steps]
            + [s.compensation_state for s in saga.steps if s.compensation]
            for name, saga in sagas.items()
        }
        function = defaults.python_function(
            scope,
            "ApiFunction",
            logs_id="ApiLogs",
            handler=HANDLER,
            code=code,
            layers=layers,
            memory_size=512,
            timeout=Duration.seconds(29),  # API Gateway's integration timeout
            environment={
                **environment,
                ENV_SERVICE_NAME: SERVICE,
                ENV_STATE_MACHINE_ARNS: Stack.of(scope).to_json_string(machine_arns),
                ENV_SAGA_STEPS: json.dumps(steps),
                ENV_FAULT_STATES: json.dumps(fault_states),
                ENV_PARENT_CHILDREN: json.dumps({name: p.child.name for name, p in parents.items()}),
                ENV_ROLLBACK_MACHINE_ARNS: Stack.of(scope).to_json_string(
                    {name: state_machines[rollback].state_machine_arn for name, rollback in rollbacks.items()}
                ),
            },
            description="stepsaga HTTP API",
        )
        # By fixed name, not by reference: the machines' ARNs, known before they exist.
        named = [arns.machine_arn(scope, name) for name in started]
        executions = [arns.executions_arn(scope, name) for name in started]
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution", "states:ListExecutions"], resources=named)
        )
        # A parent's status reads its children (DescribeExecution on their machine, a saga's).
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=executions
            )
        )
        # A resume starts a saga's rollback and reads it (functions.control.resume); nothing else
        # of the rollback machines: no listing, no history.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[arns.machine_arn(scope, rollback) for rollback in rollbacks.values()],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[arns.executions_arn(scope, rollback) for rollback in rollbacks.values()],
            )
        )
        # approve/cancel answer the approval gate's task token (kept in the Sagas table); a
        # parent has no gate.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[arns.machine_arn(scope, name) for name in sagas],
            )
        )
        # The Sagas table: idempotency claims (functions.api.claims: PutItem, GetItem) and the
        # saga records (functions.control.records: GetItem, UpdateItem). Never Scan: records hold tokens.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[saga_records.table_arn],
            )
        )
        # Status reads a saga's whole ledger through its index.
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[ledger_index_arn])
        )
        return function
