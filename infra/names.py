"""Names shared by the stack, the embedded stack, the CLI and the tests (one place to change)."""

STACK_NAME = "StepSaga"

# CloudFormation outputs.
OUT_STATE_MACHINE = "TestGenerationStateMachineArn"  # = state_machine_output("test-generation")
OUT_DEAD_LETTER_QUEUE = "CompensationDeadLetterQueueUrl"
OUT_ARTIFACTS_BUCKET = "ArtifactsBucketName"
OUT_TABLE_PREFIX = "Table"  # Table<Kind>: TableLedger, TableScenarios, ...


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def state_machine_output(name: str) -> str:
    """Output key of a state machine's ARN: ``multi-project`` -> ``MultiProjectStateMachine``."""
    return f"{_camel(name)}StateMachineArn"


def alias_output(name: str) -> str:
    """Output key of a state machine's ``live`` alias ARN."""
    return f"{_camel(name)}LiveAliasArn"


# Data each agent owns (declared per step in statemachines/), plus the shared ledger.
DATA_KINDS = ("scenarios", "tests", "runs", "reports")

# Function environment variables (read by functions.common.settings).
ENV_TABLE = {
    "ledger": "LEDGER_TABLE",
    "scenarios": "SCENARIOS_TABLE",
    "tests": "TESTS_TABLE",
    "runs": "RUNS_TABLE",
    "reports": "REPORTS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
    "sagas": "SAGAS_TABLE",
}
ENV_ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
ENV_DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
ENV_ALLOW_FAULT_INJECTION = "ALLOW_FAULT_INJECTION"
ENV_ALLOWED_PRIVATE_HOSTS = "ALLOWED_PRIVATE_HOSTS"

# CDK context keys.
CTX_ALLOW_FAULT_INJECTION = "stepsaga:allowFaultInjection"
CTX_ALLOWED_PRIVATE_HOSTS = "stepsaga:allowedPrivateHosts"
CTX_POWERTOOLS_LAYER_VERSION = "stepsaga:powertoolsLayerVersion"
