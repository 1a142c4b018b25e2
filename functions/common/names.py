"""Names the Lambda code and the stack that configures it must agree on, defined once.

This is the lowest layer: the CDK app (``infra``), the saga catalogue, the embedded stack and
the tools import these names from here; ``infra.names`` adds the CDK-only ones (stack name,
output and context keys).
"""

from __future__ import annotations

from typing import Literal

# -- state machines (declared in statemachines/catalogue.py under these names) ----------------
TEST_GENERATION = "test-generation"
PARALLEL_TEST_GENERATION = "parallel-test-generation"
REVIEWED_TEST_GENERATION = "reviewed-test-generation"
MULTI_PROJECT = "multi-project"
# The sagas: one request each; the HTTP API starts, steers and reads them.
SAGA_MACHINES = (TEST_GENERATION, PARALLEL_TEST_GENERATION, REVIEWED_TEST_GENERATION)
# Sagas of sagas (statemachines/parent.py): a list of projects, one child saga each. The API
# starts and reads them; there is nothing of theirs to steer (signals go to a child).
PARENT_MACHINES = (MULTI_PROJECT,)
# Everything the HTTP API starts, lists and reads.
API_MACHINES = SAGA_MACHINES + PARENT_MACHINES
# A parent's child saga id (``States.Format`` and ``str.format`` alike): ``<parent>-p<index>``.
# No Idempotency-Key may end like one (functions/api/models.py), so no client can start a saga
# under a child's id (it would share the child's ledger). Not a ``.`` a key cannot hold: AWS
# asks for execution names of [0-9A-Za-z_-] only for CloudWatch logging to work.
CHILD_SAGA_ID = "{}-p{}"

# Where a saga's artifacts live in the artifacts bucket: every key starts with this prefix.
ARTIFACTS_OF_SAGA = "runs/{}/"

# The error (and Fail state) a saga ends with when a compensation kept failing.
COMPENSATION_FAILED = "CompensationFailed"

# What Step Functions says of an execution (DescribeExecution, ListExecutions' filter).
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
# The faults a test or demo may inject at a state (functions/common/models.py ``Fault``).
FaultMode = Literal["transient", "permanent", "exhaust", "partial", "hang"]

# -- metrics and events ---------------------------------------------------------------------
METRIC_NAMESPACE = "StepSaga"
# The metrics the functions emit that others read: the alarms and the dashboard (infra/) and
# `stepsaga metrics` (stepsaga/cli/metrics_summary.py).
METRIC_SAGAS_STARTED = "SagasStarted"
METRIC_SAGAS_SUCCEEDED = "SagasSucceeded"
METRIC_SAGAS_ROLLED_BACK = "SagasRolledBack"
METRIC_SAGAS_COMPENSATION_FAILED = "SagasCompensationFailed"
METRIC_SAGAS_FAILED = "SagasFailed"
# How a saga ended: SagaEvents emits one of these per saga, by saga_type.
METRIC_SAGA_OUTCOMES = (
    METRIC_SAGAS_SUCCEEDED,
    METRIC_SAGAS_ROLLED_BACK,
    METRIC_SAGAS_COMPENSATION_FAILED,
    METRIC_SAGAS_FAILED,
)
METRIC_ACTIVE_SAGAS = "ActiveSagas"
METRIC_STEP_FAILED = "StepFailed"
METRIC_STEP_DURATION = "StepDuration"
METRIC_COMPENSATION_EXECUTED = "CompensationExecuted"
# ReportCompensationFailure sent a saga's dead letter (the alarm's metric).
METRIC_COMPENSATION_FAILED = "CompensationFailed"
# EventBridge's detail-type of Step Functions' execution events (what SagaEvents listens to).
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"

# -- function environment variables (set by infra/, read by functions/) -------------------------
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
# Observability (infra/observability.py): the audit trail, the active-saga counters, and the
# "<stack name>-" prefix SagaEvents strips from a machine's name to get the saga type.
ENV_AUDIT_TABLE = "AUDIT_TABLE"
ENV_ACTIVE_SAGAS_TABLE = "ACTIVE_SAGAS_TABLE"
ENV_STATE_MACHINE_PREFIX = "STATE_MACHINE_PREFIX"
# The HTTP API's function: JSON objects of the machines it may start and their step names.
ENV_STATE_MACHINE_ARNS = "STATE_MACHINE_ARNS"
ENV_SAGA_STEPS = "SAGA_STEPS"
# ... and the states each machine's fault injection may name (a JSON object of lists).
ENV_FAULT_STATES = "FAULT_STATES"
# ... and each parent's child machine (a JSON object: ``{"multi-project": "test-generation"}``).
ENV_PARENT_CHILDREN = "PARENT_CHILDREN"
# ... and each saga's rollback machine, its compensation chain alone, which a resume starts
# (a JSON object: ``{"test-generation": "arn:...:test-generation-rollback", ...}``).
ENV_ROLLBACK_MACHINE_ARNS = "ROLLBACK_MACHINE_ARNS"
ENV_MAX_BODY_BYTES = "API_MAX_BODY_BYTES"
# Powertools' own.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

# -- dead letters -----------------------------------------------------------------------------
# The key prefix of "dead letter sent" claims in the Idempotency table
# (functions.handlers.compensation_failure); IAM scopes the senders' access to it (infra/stack.py).
DEAD_LETTER_CLAIM_PREFIX = "dead-letter#"
