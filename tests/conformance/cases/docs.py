"""The AWS pages the cases take their expected outcomes from.

Where a page states the behaviour but not the exact history, the event order is the one AWS writes
for that behaviour (histories recorded on AWS, as the issue's measurement and LocalStack's
AWS-validated snapshots of the same scenarios show).
"""

GUIDE = "https://docs.aws.amazon.com/step-functions/latest/dg"
API = "https://docs.aws.amazon.com/step-functions/latest/apireference"

ERRORS = f"{GUIDE}/concepts-error-handling.html"
ERROR_NAMES = f"{ERRORS}#error-handling-error-representation"
RETRY = f"{ERRORS}#error-handling-retrying-after-an-error"
CATCH = f"{ERRORS}#error-handling-fallback-states"
RESULT_PATH = f"{GUIDE}/input-output-resultpath.html"
TASK = f"{GUIDE}/state-task.html"
TASK_TIMEOUTS = f"{GUIDE}/state-task.html#task-timeouts"
LAMBDA = f"{GUIDE}/connect-lambda.html"
LAMBDA_ERRORS = "https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html"
LAMBDA_ENV = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"
QUOTAS = f"{GUIDE}/service-quotas.html#service-limits-task-executions"
MAP = f"{GUIDE}/state-map-inline.html"
PARALLEL = f"{GUIDE}/state-parallel.html"
CALLBACK = f"{GUIDE}/connect-to-resource.html#connect-wait-token"
SYNC = f"{GUIDE}/connect-to-resource.html#connect-sync"
NESTED = f"{GUIDE}/connect-stepfunctions.html"
STRUCTURE = f"{GUIDE}/statemachine-structure.html"
WAIT = f"{GUIDE}/state-wait.html"
INTRINSICS = f"{GUIDE}/intrinsic-functions.html"
CHOICE = f"{GUIDE}/state-choice.html"
HISTORY_EVENT = f"{API}/API_HistoryEvent.html"
SEND_TASK_FAILURE = f"{API}/API_SendTaskFailure.html"
SEND_TASK_SUCCESS = f"{API}/API_SendTaskSuccess.html"
DESCRIBE_EXECUTION = f"{API}/API_DescribeExecution.html"
POWERTOOLS_LOGGER = "https://docs.powertools.aws.dev/lambda/python/latest/core/logger/"
