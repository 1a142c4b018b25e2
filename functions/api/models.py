"""Request bodies and parameters of the HTTP API (validated by the resolver, pydantic v2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from functions.common.models import Fault, SagaRequest, StateName, Text
from functions.common.names import SAGA_MACHINES, TEST_GENERATION

MACHINES: tuple[str, ...] = SAGA_MACHINES
if TYPE_CHECKING:
    Machine = str
else:  # pydantic validates (and OpenAPI lists) exactly the saga machines' names
    Machine = Literal[SAGA_MACHINES]
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
Priority = Literal["low", "normal", "high"]
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_-]{1,64}$"
SAGA_ID = r"^[A-Za-z0-9_-]{1,80}$"


class StartSaga(BaseModel):
    """POST /sagas: the saga's input (request and optional faults) and the machine to run it on."""

    model_config = ConfigDict(extra="forbid")

    request: SagaRequest
    faults: dict[StateName, Fault] = Field(default_factory=dict, max_length=20)
    machine: Machine = TEST_GENERATION


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
