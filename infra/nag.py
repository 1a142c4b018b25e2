"""cdk-nag (AwsSolutions pack) and its acknowledged findings, each with the reason it is acceptable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations

from statemachines.catalogue import PARENTS

if TYPE_CHECKING:
    from infra.stack import StepSagaStack

PACK = "AwsSolutions::AwsSolutions-"


def findings(stack: StepSagaStack) -> dict[str, str]:
    """Finding id -> why it is acceptable. One list, so a review reads every exception at once."""
    acknowledged = {
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": (
            "Lambda roles use AWSLambdaBasicExecutionRole only to write their own CloudWatch Logs."
        ),
        "IAM5[Resource::*]": (
            "X-Ray's PutTraceSegments/PutTelemetryRecords (and Step Functions' log delivery actions) "
            "support no resource-level permissions; no data-plane action uses '*'."
        ),
        "IAM5[Action::s3:Abort*]": "CDK's grantPut action group on the artifacts bucket's runs/ prefix only.",
        "IAM5[Action::s3:DeleteObject*]": (
            "CDK's grantDelete action group on the artifacts bucket's runs/ prefix only."
        ),
        f"IAM5[Resource::<{stack.get_logical_id(stack.artifacts.node.default_child)}.Arn>/runs/*]": (  # type: ignore[arg-type]
            "Artifacts are keyed runs/<saga_id>/<test_id>.json; ids are only known at run time."
        ),
        "L1": (
            "Pinned to python3.13 to match the Powertools layer's compiled pydantic-core; "
            "the runtime and the layer are upgraded together."
        ),
        "SQS3": "This queue is itself the dead-letter queue for sagas whose compensation failed.",
    }
    for parent in PARENTS.values():
        for child in parent.state_machines():
            arn = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
            execution = f"{arn}:execution:{stack.stack_name}-{child}:*"
            acknowledged[f"IAM5[Resource::{execution}]"] = (
                "A parent saga watches and stops the executions of its child state machines, whose "
                "names are only known at run time (startExecution.sync:2)."
            )
    return acknowledged


def acknowledge(stack: StepSagaStack) -> None:
    for finding, reason in findings(stack).items():
        Validations.of(stack).acknowledge(Acknowledgment(id=PACK + finding, reason=reason))
