"""CDK-only names shared by the stack, the embedded stack, the CLI and the tests: the stack's
name, its output keys and its context keys. What the Lambda code reads too (environment
variables, machine names, the metric namespace) is named in ``functions.common.names``."""

from functions.common.names import TEST_GENERATION

STACK_NAME = "StepSaga"


def camel(name: str) -> str:
    """A machine's name in construct ids and output keys: ``multi-project`` -> ``MultiProject``."""
    return "".join(part.capitalize() for part in name.split("-"))


def state_machine_output(name: str) -> str:
    """Output key of a state machine's ARN: ``multi-project`` -> ``MultiProjectStateMachine``."""
    return f"{camel(name)}StateMachineArn"


def alias_output(name: str) -> str:
    """Output key of a state machine's ``live`` alias ARN."""
    return f"{camel(name)}LiveAliasArn"


# CloudFormation outputs.
OUT_STATE_MACHINE = state_machine_output(TEST_GENERATION)
OUT_DEAD_LETTER_QUEUE = "CompensationDeadLetterQueueUrl"
OUT_ARTIFACTS_BUCKET = "ArtifactsBucketName"
OUT_TABLE_PREFIX = "Table"  # Table<Kind>: TableLedger, TableScenarios, ...
OUT_API_URL = "SagaApiUrl"
OUT_API_ID = "SagaApiId"

# Data each agent owns (declared per step in statemachines/), plus the shared ledger.
DATA_KINDS = ("scenarios", "tests", "runs", "reports")

# CDK context keys.
CTX_ALLOW_FAULT_INJECTION = "stepsaga:allowFaultInjection"
CTX_ALLOWED_PRIVATE_HOSTS = "stepsaga:allowedPrivateHosts"
CTX_POWERTOOLS_LAYER_VERSION = "stepsaga:powertoolsLayerVersion"
# Auth: IAM (SigV4) by default; ``-c stepsaga:apiAuth=api-key`` puts an API key with a usage plan
# on every method (for clients that cannot sign requests); the steering methods keep IAM as well
# (infra.api.STEERING).
CTX_API_AUTH = "stepsaga:apiAuth"
