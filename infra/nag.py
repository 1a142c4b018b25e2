"""cdk-nag (AwsSolutions pack) and every finding this app acknowledges, each with its reason.

Every acknowledgement in the app is listed by ``acknowledgements(stack)``, each with the
construct it excuses, and applied by ``acknowledge(stack)`` (from ``infra/app.py``); nothing
else calls ``Validations.acknowledge``, so a review reads every exception here.
tests/infra/test_template.py checks the synthesized validation report against this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from infra import arns, defaults
from statemachines.catalogue import PARENTS, SAGAS, machines
from statemachines.saga import REPORT_COMPENSATION_FAILURE, function_key

if TYPE_CHECKING:
    from infra.api import SagaApi
    from infra.stack import StepSagaStack

PACK = "AwsSolutions::AwsSolutions-"
# cdk-nag's rendering of an ARN's account-specific part in a granular finding.
_STATES = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"


@dataclass(frozen=True)
class Acknowledged:
    scope: IConstruct  # the construct (and everything under it) the finding is excused on
    finding: str  # the pack's rule, and for a granular rule what it applies to: ``IAM5[Resource::*]``
    reason: str

    @property
    def id(self) -> str:
        return PACK + self.finding


def acknowledgements(stack: StepSagaStack) -> list[Acknowledged]:
    """Every finding the app acknowledges. One list, so a review reads every exception at once."""
    return [*_stack_wide(stack), *_parents(stack), *_api(stack.api), *_event_checkers(stack)]


def acknowledge(stack: StepSagaStack) -> None:
    for each in acknowledgements(stack):
        Validations.of(each.scope).acknowledge(Acknowledgment(id=each.id, reason=each.reason))


def _executions(scope: IConstruct, machine: str) -> str:
    """The finding of a role that may act on every execution of one of the stack's machines."""
    return f"IAM5[Resource::{_STATES}:execution:{arns.machine_name(scope, machine)}:*]"


def _stack_wide(stack: StepSagaStack) -> list[Acknowledged]:
    reasons = {
        "L1": (
            "Pinned to python3.13 to match the Powertools layer's compiled pydantic-core; "
            "the runtime and the layer are upgraded together."
        ),
        "SQS3": "This queue is itself the dead-letter queue for sagas whose compensation failed.",
    }
    found = [Acknowledged(stack, finding, reason) for finding, reason in reasons.items()]
    # '*' only where no resource can be named: each role's tracing/log-delivery policy, which
    # holds those actions and nothing else (infra.defaults.tracing_policy). A data-plane action
    # on '*' anywhere else is a finding no acknowledgement covers.
    found += [
        Acknowledged(
            policy,
            "IAM5[Resource::*]",
            "X-Ray's PutTraceSegments/PutTelemetryRecords/GetSampling* and Step Functions' log "
            "delivery actions support no resource-level permissions; this policy holds nothing else.",
        )
        for policy in stack.node.find_all()
        if isinstance(policy, iam.Policy) and policy.node.id.endswith(defaults.TRACING)
    ]
    artifacts = stack.get_logical_id(stack.artifacts.node.default_child)  # type: ignore[arg-type]
    writers = {
        function_key(state): None
        for saga in SAGAS.values()
        for step in saga.steps
        if "artifacts" in step.owns
        for state in [*step.task_states, *([step.compensation_state] if step.compensation else [])]
        if not (step.each and state == step.policy_state)
    }
    found += [
        Acknowledged(
            stack.functions[key].role,  # type: ignore[arg-type]
            f"IAM5[Resource::<{artifacts}.Arn>/runs/*]",
            "Artifacts are keyed runs/<saga_id>/<test_id>.json; ids are only known at run time.",
        )
        for key in writers
    ]
    return found


def _parents(stack: StepSagaStack) -> list[Acknowledged]:
    return [
        Acknowledged(
            stack,
            _executions(stack, child),
            "A parent saga watches and stops the executions of its child state machines, whose "
            "names are only known at run time (startExecution.sync:2).",
        )
        for parent in PARENTS.values()
        for child in parent.state_machines()
    ]


def _event_checkers(stack: StepSagaStack) -> list[Acknowledged]:
    """The reporter and SagaEvents believe an event only once DescribeExecution confirms it."""
    roles = [
        stack.functions[function_key(REPORT_COMPENSATION_FAILURE)].role,
        stack.observability.function.role,
    ]
    return [
        Acknowledged(
            role,  # type: ignore[arg-type]
            _executions(role, name),  # type: ignore[arg-type]
            "Executions are named by saga id, known only at run time; only DescribeExecution, to "
            "refuse an event about an execution that does not exist or is not as it says.",
        )
        for role in roles
        for name in machines()
    ]


def _api(api: SagaApi) -> list[Acknowledged]:
    """The API's findings, scoped to the API, its methods and its function's role."""
    rest, function = api.rest_api, api.function
    auth = (
        "an API key (approve, cancel, priority, resume: and IAM)" if api.api_key_auth else "IAM (SigV4) auth"
    )
    found = [
        Acknowledged(
            rest,
            "APIG3",
            f"No WAF web ACL: every method requires {auth} and the stage is "
            "throttled; attach a web ACL where the account runs one.",
        ),
        Acknowledged(
            rest,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role uses AWS's managed policy for exactly that.",
        ),
    ]
    # Per method, so a method added without auth is a finding of its own.
    for operation, method in api.methods.items():
        if api.key_only(operation):
            chosen = (
                "API-key auth was chosen explicitly (-c stepsaga:apiAuth=api-key) for callers that "
                "cannot sign; the steering methods still take IAM"
            )
            found += [Acknowledged(method, "APIG4", chosen), Acknowledged(method, "COG4", chosen)]
        else:
            found.append(
                Acknowledged(method, "COG4", "Callers are IAM principals (SigV4), not Cognito users.")
            )
    found += [
        Acknowledged(
            function.role,  # type: ignore[arg-type]
            _executions(function, name),
            "Executions are named by the client's Idempotency-Key (a parent's children "
            "<key>-p<index>), known only at run time; only Describe/GetExecutionHistory, on the "
            "executions of this stack's machines the API starts.",
        )
        for name in api.machines
    ]
    found += [
        Acknowledged(
            function.role,  # type: ignore[arg-type]
            _executions(function, name),
            "A resume names the saga's rollback execution by the saga id, known only at run time; "
            "only DescribeExecution, on this stack's rollback machines.",
        )
        for name in api.rollbacks
    ]
    return found
