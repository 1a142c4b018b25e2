"""The saga HTTP API on API Gateway (REST): every method IAM-authorized and proxied to one
Lambda function (``functions.handlers.api.handler``), with stage throttling, access logs,
execution logs, X-Ray, request validation and JSON error answers from the gateway itself.

Wired from ``StepSagaStack.__init__`` (after the state machines exist) with ``add_api(self)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

from infra import defaults
from statemachines.catalogue import SAGAS

if TYPE_CHECKING:
    from infra.stack import StepSagaStack

HANDLER = "functions.handlers.api.handler"
STAGE = "v1"
OUT_API_URL = "SagaApiUrl"
OUT_API_ID = "SagaApiId"
RATE_LIMIT = 50  # requests per second, steady state, for the whole stage
BURST_LIMIT = 100
START_RATE_LIMIT = 10  # POST /sagas starts executions: tighter
PACK = "AwsSolutions::AwsSolutions-"

# The gateway's own refusals (auth, throttling, validation, size) in the Lambda's error shape.
_ERROR_TEMPLATE = json.dumps(
    {"error": "$context.error.responseType", "message": "$context.error.messageString"}
)
_VALIDATION_TEMPLATE = json.dumps(
    {"error": "ValidationError", "message": "$context.error.validationErrorString"}
)


def _start_model() -> apigw.JsonSchema:
    """The outline of POST /sagas the gateway checks; the Lambda checks every field in detail."""
    string = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING)
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="StartSaga",
        type=apigw.JsonSchemaType.OBJECT,
        required=["request"],
        additional_properties=False,
        properties={
            "request": apigw.JsonSchema(
                type=apigw.JsonSchemaType.OBJECT,
                required=["project", "target_url", "user_stories"],
                properties={
                    "project": string,
                    "target_url": string,
                    "user_stories": apigw.JsonSchema(
                        type=apigw.JsonSchemaType.ARRAY, min_items=1, max_items=50, items=string
                    ),
                },
            ),
            "faults": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
            "machine": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, enum=list(SAGAS)),
        },
    )


# Auth: IAM (SigV4) by default. `-c stepsaga:apiAuth=api-key` switches every method to an
# API key with a usage plan instead (for clients that cannot sign requests).
CTX_API_AUTH = "stepsaga:apiAuth"


def add_api(stack: StepSagaStack) -> apigw.RestApi:
    machines = {name: stack.state_machines[name] for name in SAGAS}
    api_key_auth = str(stack.node.try_get_context(CTX_API_AUTH) or "iam") == "api-key"
    function = _api_function(stack, machines)

    access_logs = defaults.log_group(stack, "SagaApiAccessLogs")
    api = apigw.RestApi(
        stack,
        "SagaApi",
        rest_api_name=f"{stack.stack_name}-sagas",
        description="Start, inspect and steer stepsaga sagas (IAM auth)",
        endpoint_types=[apigw.EndpointType.REGIONAL],
        cloud_watch_role=True,  # execution logs need the account's API Gateway logging role
        cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
        default_method_options=apigw.MethodOptions(
            api_key_required=True, authorization_type=apigw.AuthorizationType.NONE
        )
        if api_key_auth
        else apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
        deploy_options=apigw.StageOptions(
            stage_name=STAGE,
            throttling_rate_limit=RATE_LIMIT,
            throttling_burst_limit=BURST_LIMIT,
            method_options={
                "/sagas/POST": apigw.MethodDeploymentOptions(
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
    api.node.try_remove_child("Endpoint")  # CDK's own URL output: SagaApiUrl below names it once
    if api_key_auth:
        plan = api.add_usage_plan(
            "SagaApiUsagePlan",
            throttle=apigw.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        plan.add_api_key(api.add_api_key("SagaApiKey", description="stepsaga API clients"))
        for finding in ("APIG4", "COG4"):
            Validations.of(api).acknowledge(
                Acknowledgment(
                    id=PACK + finding,
                    reason="API-key auth was chosen explicitly (-c stepsaga:apiAuth=api-key); "
                    "IAM is the default",
                )
            )
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

    validate_all = api.add_request_validator(
        "ValidateBodyAndParameters", validate_request_body=True, validate_request_parameters=True
    )
    validate_parameters = api.add_request_validator(
        "ValidateParameters", validate_request_body=False, validate_request_parameters=True
    )
    start_model = api.add_model("StartSagaModel", content_type="application/json", schema=_start_model())
    integration = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)

    sagas = api.root.add_resource("sagas")
    sagas.add_method(
        "POST",
        integration,
        request_validator=validate_all,
        request_models={"application/json": start_model},
        request_parameters={"method.request.header.Idempotency-Key": True},
    )
    sagas.add_method("GET", integration, request_validator=validate_parameters)
    saga = sagas.add_resource("{saga_id}")
    saga.add_method(
        "GET",
        integration,
        request_validator=validate_parameters,
        request_parameters={"method.request.path.saga_id": True},
    )
    for child, method in (
        ("history", "GET"),
        ("audit", "GET"),
        ("approve", "POST"),
        ("cancel", "POST"),
        ("priority", "POST"),
    ):
        saga.add_resource(child).add_method(
            method,
            integration,
            request_validator=validate_parameters,
            request_parameters={"method.request.path.saga_id": True},
        )
    api.root.add_resource("openapi.json").add_method(
        "GET", integration, request_validator=validate_parameters
    )

    CfnOutput(stack, OUT_API_URL, value=api.url)
    CfnOutput(stack, OUT_API_ID, value=api.rest_api_id)
    _acknowledge(stack, api, function)
    return api


def _api_function(stack: StepSagaStack, machines: Mapping[str, sfn.StateMachine]) -> lambda_.Function:
    arns = {name: machine.state_machine_arn for name, machine in machines.items()}
    steps = {name: [step.name for step in saga.steps if not step.gate] for name, saga in SAGAS.items()}
    function = defaults.python_function(
        stack,
        "ApiFunction",
        logs_id="ApiLogs",
        handler=HANDLER,
        code=stack._code,
        layers=[stack.powertools],
        memory_size=512,
        timeout=Duration.seconds(29),  # API Gateway's integration timeout
        environment={
            **stack._environment,
            "POWERTOOLS_SERVICE_NAME": "api",
            "STATE_MACHINE_ARNS": stack.to_json_string(arns),
            "SAGA_STEPS": json.dumps(steps),
        },
        description="stepsaga HTTP API",
    )
    machine_arns = [stack.machine_arn(name) for name in SAGAS]
    executions = [stack.executions_arn(name) for name in SAGAS]
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:StartExecution", "states:ListExecutions"], resources=machine_arns
        )
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=executions
        )
    )
    # approve/cancel answer the approval gate's task token (kept in the Sagas table).
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=machine_arns
        )
    )
    stack.sagas.grant_read_write_data(function)
    stack.ledger.grant_read_data(function)
    return function


def _acknowledge(stack: StepSagaStack, api: apigw.RestApi, function: lambda_.Function) -> None:
    """cdk-nag findings of the API, each with the reason it is acceptable (scoped to the API)."""
    arn = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
    for scope, findings in (
        (
            api,
            {
                "APIG3": (
                    "No WAF web ACL: every method requires IAM (SigV4) auth and the stage is "
                    "throttled; attach a web ACL where the account runs one."
                ),
                "COG4": "Callers are IAM principals (SigV4), not Cognito users.",
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": (
                    "API Gateway's account-level logging role uses AWS's managed policy for exactly that."
                ),
            },
        ),
        (
            function,
            {
                f"IAM5[Resource::{arn}:execution:{stack.stack_name}-{name}:*]": (
                    "Executions are named by the client's Idempotency-Key, known only at run time; "
                    "only Describe/GetExecutionHistory, on this stack's saga machines."
                )
                for name in SAGAS
            },
        ),
    ):
        for finding, reason in findings.items():
            Validations.of(scope).acknowledge(Acknowledgment(id=PACK + finding, reason=reason))
