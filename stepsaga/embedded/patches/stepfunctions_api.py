"""The Step Functions API as the AWS CLI and SDKs see it on ``stepsaga up``'s endpoint: the calls
moto answers with a 500 page or answers unlike AWS.

- ``ListStateMachineVersions``: moto keeps versions (the stack publishes them) but has no action.
- ``GetExecutionHistory``: moto ignores ``reverseOrder``, ``maxResults`` and ``nextToken``. Without
  ``maxResults`` the whole history still comes in one page (AWS would page at 100), as callers here
  and moto always had it.
- ``DescribeExecution``: an execution started through an alias or a version names them
  (``stateMachineAliasArn``, ``stateMachineVersionArn``), as on AWS; an output that is a JSON string
  is JSON text (``"done"``), where moto answers the bare string.
- Any action moto lacks (``RedriveExecution``, ``TestState``...): a 400
  ``UnsupportedOperation`` in the JSON protocol, not a 500 HTML page.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once

UNSUPPORTED = "UnsupportedOperation"
VERSION_ARN = "stepsaga_version_arn"  # set on the executions started through a version or an alias
ALIAS_ARN = "stepsaga_alias_arn"


def unsupported(operation: str, detail: str = "") -> tuple[int, dict[str, str], str]:
    """An AWS JSON-protocol error answer: the operation is not there on the embedded stack."""
    message = f"{operation} is not supported by the embedded stack"
    body = {"__type": UNSUPPORTED, "message": f"{message}: {detail}" if detail else message}
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": UNSUPPORTED}
    return 400, headers, json.dumps(body)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    from moto.stepfunctions.exceptions import InvalidToken

    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise InvalidToken(f"Invalid token: {token}") from None


def page(items: list[Any], max_results: int | None, token: str | None) -> tuple[list[Any], str | None]:
    """One page of ``items`` from the offset ``token`` names; the next page's token, if any."""
    start = _offset(token)
    if not max_results:
        return items[start:], None
    end = start + max_results
    return items[start:end], (_token(end) if end < len(items) else None)


def install_api() -> None:
    """Run after ``cloudformation.install_versions``: its alias-aware start is the one wrapped here."""
    if not once("stepfunctions-api"):
        return
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    def list_state_machine_versions(self: Any) -> ActionResult:
        machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        versions = [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
            for _, v in sorted(machine.versions.items(), reverse=True)  # newest first, as AWS lists
        ]
        found, token = page(versions, self._get_param("maxResults"), self._get_param("nextToken"))
        return ActionResult({"stateMachineVersions": found, **({"nextToken": token} if token else {})})

    replace(StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions)

    history = StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> Any:
        events = list(history(self).result["events"])  # type: ignore[index]
        if self._get_param("reverseOrder"):
            events.reverse()
        found, token = page(events, self._get_param("maxResults"), self._get_param("nextToken"))
        return ActionResult({"events": found, **({"nextToken": token} if token else {})})

    replace(StepFunctionResponse, "get_execution_history", get_execution_history)

    describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        result = describe(self)
        answer: dict[str, Any] = result.result  # type: ignore[assignment]
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        for attribute, key in ((VERSION_ARN, "stateMachineVersionArn"), (ALIAS_ARN, "stateMachineAliasArn")):
            if getattr(execution, attribute, None):
                answer[key] = getattr(execution, attribute)
        if "output" in answer and isinstance(execution.output, str):  # the parsed value, a JSON string
            answer["output"] = json.dumps(execution.output)
        return result

    replace(StepFunctionResponse, "describe_execution", describe_execution)

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        execution = start(self, state_machine_arn, *args, **kwargs)
        parts = state_machine_arn.split(":")
        if len(parts) == 8 and not hasattr(execution, VERSION_ARN):  # qualified: a version or an alias
            if parts[-1].isnumeric():
                setattr(execution, VERSION_ARN, state_machine_arn)
            else:
                machine = self.describe_state_machine(":".join(parts[:-1]))
                alias = machine.aliases.get(parts[-1])
                if alias is not None:
                    routes = sorted(alias.routing_configuration, key=lambda r: -int(r.get("weight", 0)))
                    setattr(execution, ALIAS_ARN, alias.arn)
                    setattr(execution, VERSION_ARN, routes[0]["stateMachineVersionArn"] if routes else None)
        return execution

    replace(StepFunctionsParserBackend, "start_execution", start_execution)

    call_action = StepFunctionResponse.call_action

    def call_action_or_unsupported(self: Any) -> Any:
        try:
            return call_action(self)
        except NotImplementedError as error:
            operation = self._get_action()
            said = str(error)
            return unsupported(operation, "" if "has not been implemented" in said else said)

    replace(StepFunctionResponse, "call_action", call_action_or_unsupported)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.stepfunctions.responses.StepFunctionResponse.get_execution_history": Pinned(
        "3889cc6224ac2f762d44a217cdd02255957d21862ad88af0c6b30af47b17a206",
        "install_api",
        "whether moto now pages (maxResults, nextToken) and reverses (reverseOrder) the history",
    ),
    "moto.stepfunctions.responses.StepFunctionResponse.describe_execution": Pinned(
        "c3953bdc9ce21fda47ee3e996bf749950fb31c22a169464f6f2c878aa8372977",
        "install_api",
        "whether moto now answers stateMachineVersionArn and stateMachineAliasArn; its ActionResult",
    ),
    "moto.core.responses.BaseResponse.call_action": Pinned(
        "26076963fd17fd1a40be642032b5a8d90f159c19d01b80a5f0b0c839770ee0d6",
        "install_api",
        "that an action moto lacks still raises NotImplementedError (answered 400 UnsupportedOperation)",
    ),
}
