"""Request bodies and parameters of the HTTP API (validated by the resolver, pydantic v2)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from functions.common.models import MAX_PROJECTS, Fault, Project, SagaRequest, StateName, Text
from functions.common.names import API_MACHINES, CHILD_SAGA_ID, PARENT_MACHINES, TEST_GENERATION

MACHINES: tuple[str, ...] = API_MACHINES
if TYPE_CHECKING:
    Machine = str
else:  # pydantic validates (and OpenAPI lists) exactly the names of the machines the API starts
    Machine = Literal[API_MACHINES]
Priority = Literal["low", "normal", "high"]
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_-]{1,64}$"
# ...and not the shape of a parent's child saga id (``<parent>-p<index>``, CHILD_SAGA_ID): those
# ids are the parents' to start.
CHILD_ID_SUFFIX = re.compile(re.escape(CHILD_SAGA_ID.format("", "")) + r"[0-9]+$")


def reserved_key(key: str) -> str | None:
    """Why ``key`` may not name a client's saga, None if it may."""
    if CHILD_ID_SUFFIX.search(key):
        return (
            "header Idempotency-Key: must not end in -p<number>: "
            "that is a multi-project parent's child saga id"
        )
    return None


SAGA_ID = r"^[A-Za-z0-9_-]{1,80}$"


class StartSaga(BaseModel):
    """POST /sagas: the saga's input and the machine to run it on: a saga takes a ``request``
    (and optional ``faults``), a parent (``multi-project``) takes ``projects``, one child saga
    each. Which of them the machine takes is checked by ``problem``."""

    model_config = ConfigDict(extra="forbid")

    request: SagaRequest | None = Field(default=None, description="a saga's request (not a parent's)")
    projects: list[Project] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PROJECTS,
        description=f"a parent's projects, 1 to {MAX_PROJECTS}: one child saga each",
    )
    faults: dict[StateName, Fault] = Field(default_factory=dict, max_length=20)
    machine: Machine = TEST_GENERATION

    @property
    def parent(self) -> bool:
        return self.machine in PARENT_MACHINES

    def problem(self) -> str | None:
        """What does not fit the machine, naming the field; None when the body fits."""
        if self.parent:
            if self.request is not None:
                return (
                    f"request: machine {self.machine!r} runs one saga per project: "
                    'send projects: [{"request": ...}, ...] instead'
                )
            if self.projects is None:
                return f"projects: Field required by machine {self.machine!r} (1 to {MAX_PROJECTS})"
            if self.faults:
                return (
                    f"faults: machine {self.machine!r} starts each child saga with its request alone; "
                    "inject faults into a single saga"
                )
            return None
        if self.projects is not None:
            return (
                f"projects: only machine {' or '.join(map(repr, PARENT_MACHINES))} takes projects; "
                f"machine {self.machine!r} takes one request"
            )
        if self.request is None:
            return "request: Field required"
        return None


class Approve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Text | None = Field(default=None, max_length=1000)


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=1000)


class SetPriority(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority


class ErrorBody(BaseModel):
    """Every error answer: a code and one line naming what is wrong."""

    error: str
    message: str


def error_responses(*codes: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI ``responses`` for a route's error answers (all ``ErrorBody``)."""
    text = {
        400: "Invalid JSON (or not UTF-8, or nested too deeply) or parameters",
        404: "No such saga",
        409: "The saga cannot take this signal now, or the Idempotency-Key names another request "
        "(or its saga is still starting)",
        413: "Body larger than 64 KB",
        415: "Body is not application/json",
        422: "Validation error naming the field",
    }
    return {
        code: {"description": text[code], "content": {"application/json": {"model": ErrorBody}}}
        for code in codes
    }
