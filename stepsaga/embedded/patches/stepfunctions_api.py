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

Speed (``SPEED``, see speed.py): a history's JSON is written directly (``history_json``), not by
moto's serialiser, which looks up every member of every event through six alias rules and parses
every timestamp with dateutil (~85 % of a 7,000-event history's time). The same body, byte for byte.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once
from stepsaga.embedded.patches.speed import SPEED

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


# --- speed: a history's JSON written directly ---------------------------------------------------
class Unusual(Exception):
    """A value the direct writer might not render as moto does: moto's serialiser renders it."""


# The one timestamp form moto's event manager writes (``iso_8601_datetime_with_milliseconds``).
_EVENT_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z\Z", re.ASCII)
# Per structure shape: its members, and for each key moto's picker may try in a dict, which
# members try it and how early: ([(member, its shape)], {key: ((member's position, rank), ...)}).
Plan = tuple[list[tuple[str, Any]], dict[str, tuple[tuple[int, int], ...]]]
_PLANS: dict[int, tuple[Any, Plan]] = {}
_ALIASES_READING_NO_CONTENT = [  # moto's DEFAULT_ALIAS_PROVIDERS, in its order (pinned below)
    f"moto.core.serialize.{name}"
    for name in (
        "ExplicitAlias",
        "ShapeNameAlias",
        "NoAlias",
        "ShapePrefixAlias",
        "ClassPrefixAlias",
        "ModelAlias",
    )
]


def _plan(shape: Any) -> Plan:
    """Which keys moto's ``XFormedAttributePicker`` tries, in order, for each member of ``shape``
    when the value is a plain dict: its alias rules read the shape and the value's class (a dict
    has no ``Meta``), never the dict's content, so they are asked once per shape. Indexed by key:
    an event has a handful of the ~60 members a HistoryEvent may have."""
    known = _PLANS.get(id(shape))
    if known is not None:
        return known[1]
    from moto.core import serialize

    picker = serialize.XFormedAttributePicker()
    if [f"{c.__module__}.{c.__qualname__}" for c in picker.alias_providers] != _ALIASES_READING_NO_CONTENT:
        raise Unusual("moto's alias rules changed: they may read the dict's content")
    members: list[tuple[str, Any]] = []
    tried_by: dict[str, list[tuple[int, int]]] = {}
    for position, (key, member) in enumerate(shape.members.items()):
        member.parent = shape  # as moto's walk sets it: the prefix and name aliases read it
        if "name" in member.serialization:
            raise Unusual(f"{shape.name}.{key} is renamed on the wire")
        keys = tuple(
            picker.get_possible_keys(serialize.AttributePickerContext(obj={}, key=key, shape=member))
        )
        if any("." in k for k in keys):
            raise Unusual(f"{shape.name}.{key} is looked up by path")
        members.append((key, member))
        for rank, k in enumerate(keys):
            if keys.index(k) == rank:  # tried again later: the first try decides
                tried_by.setdefault(k, []).append((position, rank))
    plan = (members, {k: tuple(v) for k, v in tried_by.items()})
    _PLANS[id(shape)] = (shape, plan)  # the shape is kept: its id stays its own
    return plan


def _unix_time(value: Any, shape: Any) -> Any:
    from moto.core.serialize import TimestampSerializer

    timestamp_format = shape.serialization.get("timestampFormat", "unixtimestamp")
    found = _EVENT_TIME.match(value) if type(value) is str else None
    if found and timestamp_format == "unixtimestamp":
        y, mo, d, h, mi, s, ms = map(int, found.groups())
        try:  # what dateutil would have parsed; a date it refuses is left to moto to refuse
            parsed = datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)
        except ValueError:
            pass
        else:
            return TimestampSerializer._timestamp_unixtimestamp(parsed)
    return TimestampSerializer("unixtimestamp")._convert_timestamp_to_str(value, timestamp_format)


def _written(value: Any, shape: Any) -> Any:
    """``value`` as moto's ``JSONSerializer`` renders it for ``shape`` (None: not rendered)."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type or type(value) is not dict:
            raise Unusual(f"{shape.name}: {type(value).__name__}")
        members, tried_by = _plan(shape)
        chosen: dict[int, tuple[int, Any]] = {}  # member's position: (rank, key) of the first key held
        for k in value:
            for position, rank in tried_by.get(k, ()):
                if position not in chosen or rank < chosen[position][0]:
                    chosen[position] = (rank, k)
        out = {}
        for position in sorted(chosen):  # in the shape's order, as moto writes them
            found = value[chosen[position][1]]
            if found is not None:  # held but None: moto skips the member
                key, member = members[position]
                out[key] = _written(found, member)
        return out
    if kind == "list":
        if type(value) is not list or None in value:
            raise Unusual(f"{shape.name}: {type(value).__name__}")
        return [_written(item, shape.member) for item in value]
    if kind == "map":
        if type(value) is not dict or "" in value or None in value.values():
            raise Unusual(f"{shape.name}: {type(value).__name__}")
        return {k: _written(v, shape.value) for k, v in value.items()}
    if kind == "string":
        if isinstance(value, Enum):
            value = value.value
        return str(value) if value not in [None, {}, []] else value
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        return value
    if kind == "timestamp":
        return _unix_time(value, shape)
    if kind == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return base64.b64encode(raw).strip().decode("utf-8")
    raise Unusual(f"{shape.name}: a {kind}")


def history_json(result: Any, context: Any) -> tuple[int, dict[str, str], str] | None:
    """The answer moto's ``ActionResult.execute_result`` gives for a history, or None where the
    direct path might differ from it (another protocol, a response transformer, an odd value)."""
    from moto import settings
    from moto.core.serialize import JSONSerializer

    serializer = context.serializer_class
    transformers = getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
    if serializer is not JSONSerializer or transformers:
        return None
    operation = context.operation_model
    try:
        body = _written(result, operation.output_shape) if operation.output_shape is not None else {}
    except Unusual:
        return None
    status = operation.http.get("responseCode", serializer.DEFAULT_RESPONSE_CODE)
    content_type = serializer.APPLICATION_AMZ_JSON.format(
        version=operation.service_model.metadata.get("jsonVersion", "1.0")
    )
    text = json.dumps(body, indent=4 if settings.PRETTIFY_RESPONSES else None)
    return status, {"Content-Type": content_type}, text


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

    class HistoryResult(ActionResult):
        def execute_result(self, context: Any) -> Any:
            direct = history_json(self.result, context) if SPEED.enabled else None
            return direct if direct is not None else super().execute_result(context)

    def get_execution_history(self: Any) -> Any:
        events = list(history(self).result["events"])  # type: ignore[index]
        if self._get_param("reverseOrder"):
            events.reverse()
        found, token = page(events, self._get_param("maxResults"), self._get_param("nextToken"))
        return HistoryResult({"events": found, **({"nextToken": token} if token else {})})

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
_ALIAS_RECHECK = "that it reads the shape or the value's class, never a dict's content (_plan)"
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
    "moto.core.serialize.ResponseSerializer": Pinned(
        "6266dfddaa30faa31ad7a16d52a66e1cb9ecdd414ce28a9fd7b57bebd0329682",
        "install_api",
        "_written copies its walk (structure, member, timestamp, integer, float, blob): port a change",
        replaced=False,
    ),
    "moto.core.serialize.BaseJSONSerializer": Pinned(
        "e558d3b61d0694d47b45f1cb38a8a0452a1a175211bf3d8e55b6baf80ec2e7d0",
        "install_api",
        "_written and history_json copy its list, map, structure, string rules, body, Content-Type",
        replaced=False,
    ),
    "moto.core.serialize.JSONSerializer": Pinned(
        "665dba3e0d52aadb0c039848ef8bc704e94ebc4df92f7362d60562f553de09ce",
        "install_api",
        "that it still adds nothing to BaseJSONSerializer (history_json writes as the base does)",
        replaced=False,
    ),
    "moto.core.serialize.TimestampSerializer": Pinned(
        "474b2d932d81026ad195dd4d7a14cd0c8f9e3eb33ccd26c3e13a350161f2be10",
        "install_api",
        "history_json parses an event's time itself, as dateutil does, then calls _timestamp_unixtimestamp",
        replaced=False,
    ),
    "moto.core.serialize.AttributePicker": Pinned(
        "de1006e71db016d40df90ccc3de44b881c75d5cc15a7e01b2467c9f60d6be4a3",
        "install_api",
        "history_json takes the first of get_possible_keys a dict holds, None if none, with no transformer",
        replaced=False,
    ),
    "moto.core.serialize.XFormedAttributePicker": Pinned(
        "198e800d0a4d84e45f678bb73bbb888c702ff838f91d3d9595504e807a09c7de",
        "install_api",
        "that its keys depend on the shape and the value's class alone (_plan asks once per shape)",
        replaced=False,
    ),
    "moto.core.serialize.ExplicitAlias": Pinned(
        "50e6df2c5ef1bb8c32e68a5c1182475f9d8410357bcc7345c4d9a67591898b91",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.serialize.ShapeNameAlias": Pinned(
        "3aac05bf01b44d5c9b9a24488b0f85ecf0b95191d7e2c1a52fc25af44d86ce6c",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.serialize.NoAlias": Pinned(
        "54b6a9dd71d3de735461647c699fe3a2cfb79d584f6b744a328b9cfe3f7fd0e5",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.serialize.ShapePrefixAlias": Pinned(
        "bc24d299803babd2f2be87fc05993e6c9beb9a16a6b5bf40e08e90b13c269741",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.serialize.ClassPrefixAlias": Pinned(
        "badfb8d077e500ff236ef92b2e0394ca14430e7068e3ab4f719a014328b52238",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.serialize.ModelAlias": Pinned(
        "dc305f0cc88422f9b7657a3115a488665befc6e934a38331d16a6cd9ad8cc554",
        "install_api",
        _ALIAS_RECHECK,
        replaced=False,
    ),
    "moto.core.utils.get_value": Pinned(
        "9b06b87ce416131ecb2924b3d067f2f4950e8ca3a06e5ce3a03d17ca2f0bd3dc",
        "install_api",
        "that a key without a dot is looked up in a dict with [] (history_json uses dict.get)",
        replaced=False,
    ),
    "moto.core.utils._get_value_for_key": Pinned(
        "563aa7bc75bd5bb00e8ec1a83d50632f117017699b52161e0467c029b50c10f8",
        "install_api",
        "that a dict's missing key gives the default (history_json uses dict.get)",
        replaced=False,
    ),
    "moto.core.responses.BaseResponse.serialized": Pinned(
        "af486a0ef132716231d3a6484c32ae91a54b40fbc1d24fff01c78c813d251110",
        "install_api",
        "the context history_json reads (serializer_class, operation_model, response)",
        replaced=False,
    ),
}
