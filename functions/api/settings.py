"""What the API function reads from its environment: the data settings every function has,
plus the state machines it may start and steer.

``STATE_MACHINE_ARNS`` is a JSON object ``{"test-generation": "arn:...", ...}`` and
``SAGA_STEPS`` a JSON object of each machine's non-gate step names (the status query needs
them; the ``statemachines`` package is not part of the Lambda asset), ``FAULT_STATES`` one
of the states each machine's faults may name, ``PARENT_CHILDREN`` each parent's child machine,
``ROLLBACK_MACHINE_ARNS`` each saga's rollback machine (what a resume starts).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from functions.common.names import (
    ENV_FAULT_STATES,
    ENV_MAX_BODY_BYTES,
    ENV_PARENT_CHILDREN,
    ENV_ROLLBACK_MACHINE_ARNS,
    ENV_SAGA_STEPS,
    ENV_STATE_MACHINE_ARNS,
)
from functions.common.settings import Settings

MAX_BODY_BYTES = 64 * 1024


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data: Settings
    state_machine_arns: dict[str, str] = Field(default_factory=dict)
    saga_steps: dict[str, list[str]] = Field(default_factory=dict)
    fault_states: dict[str, list[str]] = Field(default_factory=dict)
    parent_children: dict[str, str] = Field(default_factory=dict)
    rollback_machine_arns: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0)

    @classmethod
    def from_env(cls) -> ApiSettings:
        return _cached(
            Settings.from_env(),
            os.environ.get(ENV_STATE_MACHINE_ARNS, "") or "{}",
            os.environ.get(ENV_SAGA_STEPS, "") or "{}",
            os.environ.get(ENV_FAULT_STATES, "") or "{}",
            os.environ.get(ENV_MAX_BODY_BYTES, "") or str(MAX_BODY_BYTES),
            os.environ.get(ENV_PARENT_CHILDREN, "") or "{}",
            os.environ.get(ENV_ROLLBACK_MACHINE_ARNS, "") or "{}",
        )


@lru_cache(maxsize=16)
def _cached(
    data: Settings, arns: str, steps: str, faults: str, max_body: str, children: str, rollbacks: str
) -> ApiSettings:
    return ApiSettings(
        data=data,
        state_machine_arns=json.loads(arns),
        saga_steps=json.loads(steps),
        fault_states=json.loads(faults),
        max_body_bytes=int(max_body),
        parent_children=json.loads(children),
        rollback_machine_arns=json.loads(rollbacks),
    )
