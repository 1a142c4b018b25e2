"""The approval gate: keep the task token with the saga, then let the saga wait.

Invoked by a ``.waitForTaskToken`` task. The token goes to the Sagas table, never to a
client; ``functions.control`` answers it when someone approves or cancels, and the gate's
TimeoutSeconds rolls the saga back if nobody does.
"""

from __future__ import annotations

from typing import Any

from functions.audit.steps import lambda_handler
from functions.common.errors import AgentPermanentError
from functions.common.observability import logger, metric
from functions.common.step import Step
from functions.control.records import SagaRecords


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = Step(event)
    step.faults.before_work(step.ctx)
    if not step.ctx.task_token:
        raise AgentPermanentError("the approval gate must be invoked by a .waitForTaskToken task")
    SagaRecords(step.settings.sagas_table).await_approval(
        step.saga_id, step.ctx.execution_arn, step.ctx.task_token
    )
    metric("ApprovalRequested")
    logger.info("waiting for approval")
    return {"awaiting_approval": True}
