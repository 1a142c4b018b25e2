"""The HTTP API: Powertools' REST resolver with pydantic validation over Step Functions and
``functions.control``.

Each handler is registered at its entry in ``functions.api.routes.ROUTES`` (method, path,
summary), found by the handler's name; the table is what API Gateway and the local server
serve too. ``Idempotency-Key`` on POST /sagas becomes the execution name, claimed once for
every machine (``functions.api.claims``).

Every error answers ``{"error": "<code>", "message": "<one line naming what is wrong>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from botocore.exceptions import ClientError

from functions import audit
from functions.api import body as request_body
from functions.api import history, routes
from functions.api.claims import ClaimPending, Claims, IdempotencyConflict, start_once
from functions.api.models import (
    IDEMPOTENCY_KEY,
    MACHINES,
    SAGA_ID,
    Approve,
    Cancel,
    Machine,
    SetPriority,
    StartSaga,
    error_responses,
    reserved_key,
)
from functions.api.settings import ApiSettings
from functions.common import aws
from functions.common.arns import execution_arn
from functions.common.names import PARENT_MACHINES, TEST_GENERATION, ExecutionStatus
from functions.common.observability import logger
from functions.common.store import DynamoSagaStore
from functions.control import SagaControl, SignalError
from functions.control.parents import ParentControl
from functions.control.records import SagaRecords
from functions.control.resume import SagaResume


class SagaResolver(APIGatewayRestResolver):
    """Powertools' resolver, refusing a body it could not decode or parse before it tries."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        refused = request_body.problem(event)
        if refused is not None:
            return {
                "statusCode": 400,
                "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps({"error": "InvalidJson", "message": refused}),
                "isBase64Encoded": False,
            }
        return super().resolve(event, context)


app = SagaResolver(enable_validation=True)

SagaId = Annotated[str, Path(pattern=SAGA_ID, description="the saga id (its execution name)")]
MachineQuery = Annotated[
    Machine | None, Query(description="the saga's state machine (found by id when omitted)")
]


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def error_response(status: int, error: str, message: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": error, "message": message}),
    )


# -- helpers -------------------------------------------------------------------------------
def _settings() -> ApiSettings:
    return ApiSettings.from_env()


def _machine_arn(machine: str) -> str:
    arn = _settings().state_machine_arns.get(machine)
    if not arn:
        raise ApiError(400, "UnknownMachine", f"machine: {machine!r} is not deployed here")
    return arn


def _describe(machine_arn: str, saga_id: str) -> dict[str, Any] | None:
    try:
        described = aws.client("stepfunctions").describe_execution(
            executionArn=execution_arn(machine_arn, saga_id)
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise
    return dict(described)


def _find(saga_id: str, machine: str | None) -> tuple[str, dict[str, Any]]:
    """The machine running ``saga_id`` and its description (404 when no machine has it)."""
    arns = _settings().state_machine_arns
    candidates = [machine] if machine else [m for m in MACHINES if m in arns]
    for name in candidates:
        described = _describe(_machine_arn(name), saga_id)
        if described is not None:
            return name, described
    where = f" on machine {machine!r}" if machine else ""
    raise ApiError(404, "SagaNotFound", f"saga_id: no saga {saga_id!r}{where}")


def _control(machine: str) -> SagaControl:
    if machine in PARENT_MACHINES:  # a parent has no gate or priority: its children's are theirs
        raise ApiError(
            409,
            "SagaNotSteerable",
            f"machine: {machine!r} runs child sagas and takes no signal; send it to a child saga",
        )
    settings = _settings()
    return SagaControl(
        _machine_arn(machine),
        SagaRecords(settings.data.sagas_table),
        DynamoSagaStore(settings.data),
        list(settings.saga_steps.get(machine, [])),
    )


def _resume(machine: str) -> SagaResume:
    """A saga machine's rollbacks (a parent has none: each child saga rolls back on its own)."""
    return SagaResume(machine, _settings().rollback_machine_arns.get(machine))


def _parent_control(machine: str) -> ParentControl:
    child = _settings().parent_children.get(machine)
    if not child:
        raise ApiError(
            400, "UnknownMachine", f"machine: the child machine of {machine!r} is not configured here"
        )
    return ParentControl(_machine_arn(machine), _machine_arn(child))


def _sender() -> str:
    identity = (app.current_event.get("requestContext") or {}).get("identity") or {}
    return str(identity.get("userArn") or identity.get("caller") or identity.get("sourceIp") or "anonymous")


def _iso(moment: Any) -> str | None:
    if isinstance(moment, datetime):
        return moment.isoformat()
    return None if moment is None else str(moment)


def _saga(machine: str, described: dict[str, Any]) -> dict[str, Any]:
    return {
        "saga_id": described["name"],
        "machine": machine,
        "execution_arn": described["executionArn"],
        "status": described["status"],
        "start_date": _iso(described.get("startDate")),
        "stop_date": _iso(described.get("stopDate")),
    }


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers=headers,
    )


# -- routes --------------------------------------------------------------------------------
Handler = TypeVar("Handler", bound=Callable[..., Any])
HANDLERS: dict[str, Callable[..., Any]] = {}  # operation -> handler, as registered


def _at_route(*, responses: dict[int, Any] | None = None, **options: Any) -> Callable[[Handler], Handler]:
    """Register a handler at its route in ``routes.ROUTES`` (the operation is the handler's name)."""

    def register(handler: Handler) -> Handler:
        route = routes.route(handler.__name__)
        HANDLERS[route.operation] = handler
        # Declared responses replace Powertools' default 200 in the document: keep it documented.
        documented = {200: {"description": "Successful Response"}, **(responses or {})}
        return app.route(
            route.rule,
            route.method,
            summary=route.summary,
            include_in_schema=route.summary is not None,
            responses=documented,
            **options,
        )(handler)

    return register


@_at_route(
    responses={
        201: {"description": "Started"},
        200: {"description": "The saga this Idempotency-Key already started"},
        **error_responses(400, 409, 413, 415, 422),
    },
)
def start_saga(
    body: Annotated[
        StartSaga,
        Body(description="the machine and its input: a saga's request (and faults), or a parent's projects"),
    ],
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="client-chosen key, [A-Za-z0-9_-]{1,64}, not ending in -p<number> (a parent's "
            "child saga id): it becomes the saga id",
        ),
    ],
) -> Any:
    settings = _settings()
    problem = body.problem() or reserved_key(idempotency_key)
    if problem is not None:
        raise ApiError(422, "ValidationError", problem)
    if body.faults and not settings.data.allow_fault_injection:
        raise ApiError(422, "ValidationError", "faults: fault injection is disabled in this deployment")
    machine_arn = _machine_arn(body.machine)
    states = settings.fault_states.get(body.machine)
    for state in body.faults:
        if states is not None and state not in states:
            raise ApiError(
                422,
                "ValidationError",
                f"faults.{state}: no such state on machine {body.machine!r} (one of {', '.join(states)})",
            )
    raw = app.current_event.json_body  # the client's own document, unchanged (validated above)
    document: dict[str, Any] = {"projects": raw["projects"]} if body.parent else {"request": raw["request"]}
    if raw.get("faults"):
        document["faults"] = raw["faults"]
    saga_id = idempotency_key
    claims = Claims(settings.data.sagas_table, aws.client("dynamodb"))
    try:
        created, existing = start_once(
            claims, aws.client("stepfunctions"), saga_id, body.machine, machine_arn, document
        )
    except (IdempotencyConflict, ClaimPending) as conflict:
        raise ApiError(409, type(conflict).__name__, str(conflict)) from conflict
    logger.info("saga started" if created else "saga start replayed", extra={"saga_id": saga_id})
    return _json(
        201 if created else 200,
        _saga(body.machine, existing),
        headers={"Location": f"/sagas/{saga_id}"},
    )


@_at_route(responses=error_responses(400, 422))
def list_sagas(
    machine: Annotated[Machine, Query()] = TEST_GENERATION,
    status: Annotated[ExecutionStatus | None, Query(description="only sagas in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(min_length=1, max_length=4096)] = None,
) -> Any:
    arguments: dict[str, Any] = {"stateMachineArn": _machine_arn(machine), "maxResults": limit}
    if status:
        arguments["statusFilter"] = status
    if next_token:
        arguments["nextToken"] = next_token
    try:
        page = aws.client("stepfunctions").list_executions(**arguments)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("InvalidToken", "ValidationException"):
            raise ApiError(400, "ValidationError", "next_token: not a token this API returned") from error
        raise
    return _json(
        200,
        {
            "sagas": [
                {
                    "saga_id": e["name"],
                    "machine": machine,
                    "status": e["status"],
                    "start_date": _iso(e.get("startDate")),
                    "stop_date": _iso(e.get("stopDate")),
                }
                for e in page.get("executions", [])
            ],
            "next_token": page.get("nextToken"),
        },
    )


@_at_route(responses=error_responses(404, 422))
def saga_status(saga_id: SagaId, machine: MachineQuery = None) -> Any:
    found, _ = _find(saga_id, machine)
    if found in PARENT_MACHINES:
        return _json(200, {"machine": found, **_parent_control(found).status(saga_id)})
    status = _control(found).status(saga_id)
    # Once it has ended: its rollback, if a resume (or its parent) started one, and where that is.
    rollback = None if status["status"] == "RUNNING" else _resume(found).rollback(saga_id)
    return _json(200, {"machine": found, **status, "rollback": rollback})


@_at_route(responses=error_responses(404, 422))
def saga_history(
    saga_id: SagaId,
    machine: MachineQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$")] = None,
) -> Any:
    # Rows need the whole history (elapsed time and state come from earlier events), so the
    # history is read in full and paged here: next_token is the id of the last row returned.
    _, described = _find(saga_id, machine)
    sfn = aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=described["executionArn"]):
        events.extend(page["events"])
    after = int(next_token or 0)
    remaining = [row for row in history.rows(events) if row["id"] > after]
    shown = remaining[:limit]
    more = len(remaining) > limit
    return _json(
        200,
        {
            "saga_id": saga_id,
            "status": described["status"],
            "events": shown,
            "next_token": str(shown[-1]["id"]) if more and shown else None,
        },
    )


@_at_route(responses=error_responses(404, 422))
def saga_audit(saga_id: SagaId) -> Any:
    if not audit.table_from_env():
        raise ApiError(404, "AuditNotEnabled", "audit: this deployment keeps no audit record")
    events = audit.read(saga_id)
    if not events:
        raise ApiError(404, "SagaNotFound", f"saga_id: no audit record for {saga_id!r}")
    return _json(200, {"saga_id": saga_id, "events": events})


@_at_route(responses=error_responses(400, 404, 409, 413, 422))
def approve(
    saga_id: SagaId, body: Annotated[Approve | None, Body()] = None, machine: MachineQuery = None
) -> Any:
    found, _ = _find(saga_id, machine)
    comment = body.comment if body else None
    return _json(200, _control(found).approve(saga_id, sender=_sender(), comment=comment))


@_at_route(responses=error_responses(400, 404, 409, 413, 422))
def cancel(saga_id: SagaId, body: Annotated[Cancel, Body()], machine: MachineQuery = None) -> Any:
    found, _ = _find(saga_id, machine)
    try:
        return _json(200, _control(found).cancel(saga_id, body.reason, sender=_sender()))
    except ValueError as error:  # a reason of only whitespace
        raise ApiError(422, "ValidationError", f"reason: {error}") from error


@_at_route(responses=error_responses(400, 404, 409, 413, 422))
def set_priority(saga_id: SagaId, body: Annotated[SetPriority, Body()], machine: MachineQuery = None) -> Any:
    found, _ = _find(saga_id, machine)
    return _json(200, _control(found).set_priority(saga_id, body.priority, sender=_sender()))


@_at_route(
    responses={
        202: {"description": "The saga's rollback execution: started now, or by an earlier resume"},
        **error_responses(400, 404, 409, 422),
    },
)
def resume(saga_id: SagaId, machine: MachineQuery = None) -> Any:
    found, described = _find(saga_id, machine)
    resumed = _resume(found).resume(saga_id, described, sender=_sender())
    logger.info("saga resumed", extra={"saga_id": saga_id, "rollback": resumed["rollback"]["status"]})
    return _json(202, resumed)


@_at_route()
def openapi() -> Any:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(
            title="stepsaga",
            version="1.0.0",
            description="Start, inspect and steer sagas on AWS Step Functions.",
        ),
    )


# -- errors --------------------------------------------------------------------------------
def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if not parts:
        return "input"
    kind, rest = parts[0], parts[1:]
    if kind == "body":
        return ".".join(rest) or "body"
    if kind == "header":
        return "header " + "-".join(word.capitalize() for word in ".".join(rest).split("-"))
    if kind in ("query", "path", "cookie"):
        return f"{kind} parameter {'.'.join(rest)}"
    return ".".join(parts)


def describe(errors: list[Any]) -> str:
    """Validation errors as one line naming each field: ``request.target_url: Input should ...``."""
    lines = []
    for problem in errors:
        message = str(problem.get("msg", "invalid"))
        if problem.get("type") == "missing" and tuple(problem.get("loc", ())) == ("body",):
            message = "a JSON object is required"
        lines.append(f"{_where(problem.get('loc', ()))}: {message}")
    return "; ".join(lines)


@app.exception_handler(RequestValidationError)
def _validation(error: RequestValidationError) -> Response:
    problems = list(error.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        detail = next(p for p in problems if p.get("type") == "json_invalid")
        reason = (detail.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, "InvalidJson", f"body: not valid JSON ({reason})")
    return error_response(422, "ValidationError", describe(problems))


@app.exception_handler(RequestUnsupportedContentType)
def _content_type(error: RequestUnsupportedContentType) -> Response:
    return error_response(415, "UnsupportedMediaType", "Content-Type: send application/json")


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.error, error.message)


@app.exception_handler(SignalError)
def _signal(error: SignalError) -> Response:
    return error_response(error.status_code, type(error).__name__, str(error))


@app.not_found
def _not_found(error: NotFoundError) -> Response:
    event = app.current_event
    return error_response(
        404, "NotFound", f"no route {event.http_method} {event.path} (see GET /openapi.json)"
    )


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return error_response(
        int(HTTPStatus.INTERNAL_SERVER_ERROR), "InternalError", f"internal error ({type(error).__name__})"
    )
