"""One test of a parallel saga's Execution Map: run it, record it, compensable on its own."""

from __future__ import annotations

from typing import Any

from functions.agents import execution
from functions.audit.steps import lambda_handler
from functions.common.step import Step
from functions.common.store import S3ArtifactStore, SagaStore
from functions.common.targets import fetch
from functions.handlers.base import forward


def _run(step: Step, store: SagaStore) -> dict[str, Any]:
    allowed = step.settings.allowed_private_hosts
    return execution.run_one(step, store, S3ArtifactStore(step.settings), lambda url: fetch(url, allowed))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return forward(event, context, _run)
