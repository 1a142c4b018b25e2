"""What each role may do: the allow-list every grant in the template is held to.

One entry per function (keyed by its construct id) and per state machine: the exact
(action, resource) pairs its code calls. ``tests/infra/test_permissions.py`` reads every
``AWS::IAM::Policy`` of the synthesized template and fails when a role holds a pair not
declared here, or lacks one that is: a new grant fails until it is declared, and reviewed,
here.

Resources are written as the test renders them: a construct's id without its hash
(``ScenariosTable``), an ARN from its service on (``states:stateMachine:StepSaga-test-generation``),
and a condition in brackets (``LedgerTable[LeadingKeys Requirements#*]``: the items whose
partition key starts ``Requirements#``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from functions.common.names import API_MACHINES, DEAD_LETTER_CLAIM_PREFIX, SAGA_MACHINES
from functions.common.store import LEDGER_BY_SAGA, ledger_entry
from infra.defaults import MACHINE_DELIVERY, XRAY_WRITE
from infra.names import STACK_NAME, camel
from statemachines.catalogue import ROLLBACKS, SAGAS, machines
from statemachines.parent import rollback_name, state_machine_key
from statemachines.saga import PLACEHOLDER

Grant = tuple[str, str]  # (action, resource)

OWN_LOGS = "own log group"
EVERY_FUNCTION: frozenset[Grant] = frozenset(
    {
        ("logs:CreateLogStream", OWN_LOGS),
        ("logs:PutLogEvents", OWN_LOGS),
        *((action, "*") for action in XRAY_WRITE),
        ("dynamodb:PutItem", "ObservabilityAuditTable"),  # functions.audit: the step's audit events
    }
)
LEDGER_INDEX = f"LedgerTable/index/{LEDGER_BY_SAGA}"
DEAD_LETTERS = "CompensationDeadLetterQueue"
DEAD_LETTER_CLAIMS = f"IdempotencyTable[LeadingKeys {DEAD_LETTER_CLAIM_PREFIX}*]"
RUNS_OBJECTS = "ArtifactsBucket/runs/*"


def _on(resource: str, *actions: str) -> set[Grant]:
    return {(f"dynamodb:{a}" if ":" not in a else a, resource) for a in actions}


def _ledger(step: str, *actions: str) -> set[Grant]:
    """Only ``step``'s own ledger entries: no agent can rewrite or un-fence another's."""
    return _on(f"LedgerTable[LeadingKeys {ledger_entry(step, '')}*]", *actions)


def _machines(kind: str, names: Iterable[str], *actions: str) -> set[Grant]:
    suffix = ":*" if kind == "execution" else ""
    return {(a, f"states:{kind}:{STACK_NAME}-{n}{suffix}") for n in names for a in actions}


EVERY_MACHINE = tuple(machines())
# The rollback machines a resume starts: those of the sagas the API steers.
RESUMES = tuple(rollback_name(saga) for name, saga in ROLLBACKS.items() if name in SAGAS)

FUNCTIONS: dict[str, set[Grant]] = {
    "RequirementsFunction": _ledger("Requirements", "UpdateItem") | _on("ScenariosTable", "PutItem"),
    "CompensateRequirementsFunction": _ledger("Requirements", "UpdateItem", "GetItem", "BatchGetItem")
    | _on("ScenariosTable", "DeleteItem"),
    "GenerationFunction": _ledger("Generation", "UpdateItem")
    | _on("TestsTable", "PutItem")
    | _on("ScenariosTable", "Query"),
    "CompensateGenerationFunction": _ledger("Generation", "UpdateItem", "GetItem", "BatchGetItem")
    | _on("TestsTable", "UpdateItem"),  # marks tests INVALID, deletes none
    "ExecutionFunction": _ledger("Execution", "UpdateItem")
    | _on("TestsTable", "Query")
    | _on("RunsTable", "Query", "PutItem")
    | _on(RUNS_OBJECTS, "s3:PutObject", "s3:DeleteObject")  # deletes only what a fenced attempt put
    # The priority alone: the Sagas table also holds approval task tokens.
    | _on("SagasTable[Attributes saga_id,priority; Select SPECIFIC_ATTRIBUTES]", "GetItem")
    | _on("IdempotencyTable[LeadingKeys Execution#*]", "GetItem", "PutItem", "UpdateItem", "DeleteItem")
    # Its own task token only (IAM cannot scope a token): on the machines that call it.
    | _machines(
        "stateMachine",
        ("test-generation", "reviewed-test-generation"),
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
    ),
    "CompensateExecutionFunction": _ledger("Execution", "UpdateItem", "GetItem", "BatchGetItem")
    | _on("RunsTable", "UpdateItem")  # marks runs CLEANED, deletes none
    | _on(RUNS_OBJECTS, "s3:DeleteObject")
    | _on("ArtifactsBucket[s3:prefix runs/*]", "s3:ListBucket"),
    "ExecuteTestFunction": _ledger("Execution", "UpdateItem")
    | _on("TestsTable", "GetItem")
    | _on("RunsTable", "PutItem")
    | _on(RUNS_OBJECTS, "s3:PutObject"),
    "ExecutionPolicyFunction": _on("TestsTable", "Query") | _on("RunsTable", "Query"),
    "ObservationFunction": _ledger("Observation", "UpdateItem")
    | _on("RunsTable", "Query")
    | _on("ReportsTable", "PutItem"),
    "AnalysisFunction": _ledger("Analysis", "UpdateItem")
    | _on("TestsTable", "Query")
    | _on("RunsTable", "Query")
    | _on("ReportsTable", "Query", "PutItem"),
    "EvolutionFunction": _ledger("Evolution", "UpdateItem")
    | _on("TestsTable", "Query")
    | _on("RunsTable", "Query")
    | _on("ReportsTable", "PutItem"),
    "AwaitApprovalFunction": _on("SagasTable", "UpdateItem"),  # stores the gate's token
    "ReportCompensationFailureFunction": _on(LEDGER_INDEX, "Query")
    | _machines("execution", EVERY_MACHINE, "states:DescribeExecution")  # refuses a saga that is not running
    | _on(DEAD_LETTERS, "sqs:SendMessage")
    | _on(DEAD_LETTER_CLAIMS, "GetItem", "PutItem"),
    "SummariseProjectsFunction": set(),
    # Sagas and parents (multi-project: its status reads its children, sagas, by DescribeExecution).
    "ApiFunction": _machines("stateMachine", API_MACHINES, "states:StartExecution", "states:ListExecutions")
    | _machines("execution", API_MACHINES, "states:DescribeExecution", "states:GetExecutionHistory")
    # approve/cancel answer the approval gate's token, taken from the Sagas table (no parent has one).
    | _machines("stateMachine", SAGA_MACHINES, "states:SendTaskSuccess", "states:SendTaskFailure")
    # POST /sagas/{id}/resume starts a saga's rollback; its status reads it (functions.control.resume).
    | _machines("stateMachine", RESUMES, "states:StartExecution")
    | _machines("execution", RESUMES, "states:DescribeExecution")
    # Idempotency-Key claims (functions.api.claims) and saga records (functions.control.records).
    | _on("SagasTable", "GetItem", "PutItem", "UpdateItem")
    | _on(LEDGER_INDEX, "Query")
    | _on("ReportsTable", "Query")  # status: the saga's analysis and evolution reports
    | _on("ObservabilityAuditTable", "Query"),
    "ObservabilitySagaEventsFunction": _on("ObservabilitySagaEventsDeadLetterQueue", "sqs:SendMessage")
    | _machines("execution", EVERY_MACHINE, "states:DescribeExecution")  # refuses a forged event
    | _on("ObservabilityActiveSagasTable", "GetItem", "UpdateItem")
    # The dead letter of a CompensationFailed saga the reporter did not send.
    | _on(LEDGER_INDEX, "Query")
    | _on(DEAD_LETTERS, "sqs:SendMessage")
    | _on(DEAD_LETTER_CLAIMS, "GetItem", "PutItem"),
}


def function_grants(function: str) -> set[Grant]:
    return set(EVERY_FUNCTION) | FUNCTIONS[function]


def machine_grants(name: str) -> set[Grant]:
    """A machine invokes the function versions its definition names and, a parent, starts,
    watches and stops its children; plus log delivery and traces (no resource)."""
    grants = {(action, "*") for action in MACHINE_DELIVERY}
    definition = json.dumps(machines()[name]())
    children = {state_machine_key(n): n for n in machines()}
    for key in set(PLACEHOLDER.findall(definition)):
        if key in children:
            child = children[key]
            grants |= {("states:StartExecution", f"{camel(child)}StateMachine")}
            grants |= _machines("execution", [child], "states:DescribeExecution", "states:StopExecution")
        else:
            grants.add(("lambda:InvokeFunction", f"{key.removesuffix('FunctionArn')}FunctionCurrentVersion"))
    if any(key in children for key in PLACEHOLDER.findall(definition)):
        rule = "events:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
        grants |= {(a, rule) for a in ("events:PutTargets", "events:PutRule", "events:DescribeRule")}
    return grants
