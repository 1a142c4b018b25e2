"""The CDK app: ``cdk synth`` / ``cdk deploy`` run this module (see cdk.json)."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra import names
from infra.nag import acknowledge
from infra.stack import StepSagaStack


def build(app: App, env: Environment | None = None) -> StepSagaStack:
    def context(key: str, default: Any) -> Any:
        value = app.node.try_get_context(key)
        return default if value is None else value

    allow = context(names.CTX_ALLOW_FAULT_INJECTION, False)
    stack = StepSagaStack(
        app,
        names.STACK_NAME,
        allow_fault_injection=allow is True or str(allow).lower() == "true",
        allowed_private_hosts=str(context(names.CTX_ALLOWED_PRIVATE_HOSTS, "")),
        powertools_layer_version=int(context(names.CTX_POWERTOOLS_LAYER_VERSION, 27)),
        api_key_auth=str(context(names.CTX_API_AUTH, "iam")) == "api-key",
        env=env,
        description="stepsaga: the six-agent test-generation saga on Step Functions",
    )
    acknowledge(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
