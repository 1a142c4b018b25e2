"""The HTTP API's routes, declared once.

``functions.api.app`` registers each handler at its route, ``infra/api.py`` builds API
Gateway's resources and methods from the table, and the local server
(``stepsaga/cli/api_server.py``) matches requests against it. Plain data: importing it costs
nothing, and needs neither Powertools nor CDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The Lambda function behind every route (API Gateway's proxy integration), and its service name.
HANDLER = "functions.handlers.api.handler"
SERVICE = "api"

_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway's resource template: ``/sagas/{saga_id}/history``
    operation: str  # the handler's function name in functions.api.app
    summary: str | None = None  # OpenAPI summary; None keeps the route out of the document
    headers: tuple[str, ...] = ()  # request headers the gateway requires

    @property
    def rule(self) -> str:
        """The path as Powertools' resolver spells it: ``/sagas/<saga_id>/history``."""
        return _PARAMETER.sub(r"<\1>", self.path)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The path parameters, in order: ``("saga_id",)``."""
        return tuple(_PARAMETER.findall(self.path))

    @property
    def pattern(self) -> re.Pattern[str]:
        """A request path of this route, each parameter one path segment."""
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$")


ROUTES = (
    Route(
        "POST",
        "/sagas",
        "start_saga",
        "Start a saga (idempotent by Idempotency-Key)",
        headers=("Idempotency-Key",),
    ),
    Route("GET", "/sagas", "list_sagas", "List a machine's sagas"),
    Route("GET", "/sagas/{saga_id}", "saga_status", "Where a saga is"),
    Route(
        "GET", "/sagas/{saga_id}/history", "saga_history", "The saga's execution history, console-style rows"
    ),
    Route(
        "GET",
        "/sagas/{saga_id}/audit",
        "saga_audit",
        "The saga's append-only audit record (kept after the execution history expires)",
    ),
    Route("POST", "/sagas/{saga_id}/approve", "approve", "Approve a saga waiting at its gate"),
    Route("POST", "/sagas/{saga_id}/cancel", "cancel", "Cancel a saga waiting at its gate"),
    Route("POST", "/sagas/{saga_id}/priority", "set_priority", "Set a running saga's priority"),
    Route(
        "POST",
        "/sagas/{saga_id}/resume",
        "resume",
        "Resume a saga that ended CompensationFailed: run its rollback machine (idempotent)",
    ),
    Route("GET", "/openapi.json", "openapi"),
)


def route(operation: str) -> Route:
    """The route of an operation (a handler's name)."""
    [found] = [r for r in ROUTES if r.operation == operation]
    return found
