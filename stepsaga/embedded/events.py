"""EventBridge's "Step Functions Execution Status Change" rule, on the embedded stack.

moto emits no such events; the ``patches.stepfunctions.STATUS_LISTENERS`` get each execution's
``detail`` at its start (RUNNING) and at its end. ``install(stack)`` adds a listener that does
what the rule in ``infra.observability`` does on AWS: for the stack's own state machines,
invoke the saga-events handler with an EventBridge-shaped event, in-process, with the
deployed function's environment when the template has it (plus ``awslambda.RUNTIME_ENV``),
otherwise with ``RUNTIME_ENV`` alone (set ``AUDIT_TABLE``/``ACTIVE_SAGAS_TABLE`` there).

    listener = events.install(stack)   # idempotent per stack (EmbeddedStack.deploy calls it once wired)
    ...
    events.uninstall(listener)
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from functions.common.names import EXECUTION_STATUS_CHANGE
from infra import names
from stepsaga.embedded.account import ACCOUNT, REGION
from stepsaga.embedded.patches import awslambda, stepfunctions

HANDLER = "functions.handlers.saga_events.handler"
DETAIL_TYPE = EXECUTION_STATUS_CHANGE
Listener = Callable[[dict[str, Any]], None]

_log = logging.getLogger("stepsaga.embedded.events")
_installed: dict[int, Listener] = {}


def event_of(detail: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The envelope EventBridge puts around the detail."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [detail["executionArn"]],
        "detail": detail,
    }


def _deployed_function(account: str, region: str) -> Any:
    """The saga-events function of the deployed template, if the stack has one."""
    from moto.awslambda.models import lambda_backends
    from moto.awslambda_simple.models import lambda_simple_backends

    # Without Docker, mock_aws keeps functions in the "simple" Lambda backend.
    for backends in (lambda_simple_backends, lambda_backends):
        for function in backends[account][region].list_functions():
            if getattr(function, "handler", None) == HANDLER:
                return function
    return None


def listener_for(stack: Any) -> Listener | None:
    """The listener ``install`` added for ``stack``, if any."""
    return _installed.get(id(stack))


def install(stack: Any) -> Listener:
    """Deliver the stack's execution status changes to the saga-events handler (idempotent)."""
    existing = _installed.get(id(stack))
    if existing is not None:
        return existing
    machines = {arn for key, arn in stack.outputs.items() if key.endswith("StateMachineArn")}
    prefix = f"{names.STACK_NAME}-"

    def listener(detail: dict[str, Any]) -> None:
        if detail.get("stateMachineArn") not in machines:
            return  # the rule matches the stack's machines only
        event = event_of(detail, ACCOUNT, REGION)
        function = _deployed_function(ACCOUNT, REGION)
        if function is not None:
            result, errored = awslambda.call_in_process(function, event)
            if errored:
                _log.error("saga-events handler failed: %s", result)
            return
        from functions.handlers.saga_events import PREFIX_ENV, handler

        environ = awslambda.install_thread_environ()
        with environ.overlay({PREFIX_ENV: prefix, **awslambda.RUNTIME_ENV}):
            handler(event, None)

    stepfunctions.STATUS_LISTENERS.append(listener)
    _installed[id(stack)] = listener
    return listener


def uninstall(listener: Listener) -> None:
    if listener in stepfunctions.STATUS_LISTENERS:
        stepfunctions.STATUS_LISTENERS.remove(listener)
    for key, value in list(_installed.items()):
        if value is listener:
            del _installed[key]
