"""Where a parent saga (``multi-project``) is: each child saga's name and status and, once the
parent has ended, the summary it made of them.

Read from DescribeExecution of the parent (its input lists the projects) and of each child,
found by its name (``CHILD_SAGA_ID``: ``<parent>-p<index>``), and from the parent's execution
history for the summary: the SummariseProjects state's output, which a parent that rolled back
keeps nowhere else (a Fail state has no output).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.common import arns, aws
from functions.common.names import CHILD_SAGA_ID
from functions.control.signals import SagaNotFound

SUMMARY_STATE = "SummariseProjects"  # statemachines/parent.py
NOT_STARTED = "NOT_STARTED"  # a child the parent has not started yet (two run at a time)


class ParentControl:
    """The status query for the parents of one state machine, whose children run on another."""

    def __init__(self, state_machine_arn: str, child_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.child_machine_arn = child_machine_arn
        self._sfn = aws.client("stepfunctions")

    def _describe(self, execution_arn: str) -> dict[str, Any] | None:
        try:
            return dict(self._sfn.describe_execution(executionArn=execution_arn))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise

    def status(self, saga_id: str) -> dict[str, Any]:
        described = self._describe(arns.execution_arn(self.state_machine_arn, saga_id))
        if described is None:
            raise SagaNotFound(f"no saga {saga_id!r}")
        try:
            projects = json.loads(described.get("input") or "{}").get("projects") or []
        except (ValueError, AttributeError):
            projects = []
        running = described["status"] == "RUNNING"
        return {
            "saga_id": saga_id,
            "status": described["status"],
            "children": [self._child(saga_id, index, project) for index, project in enumerate(projects)],
            "summary": None if running else self.summary(described["executionArn"]),
            "outcome": None
            if running
            else {
                "status": described["status"],
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
        }

    def _child(self, saga_id: str, index: int, project: Any) -> dict[str, Any]:
        name = CHILD_SAGA_ID.format(saga_id, index)
        request = project.get("request") if isinstance(project, dict) else None
        child = self._describe(arns.execution_arn(self.child_machine_arn, name))
        entry: dict[str, Any] = {
            "saga_id": name,
            "project": request.get("project") if isinstance(request, dict) else None,
            "status": child["status"] if child else NOT_STARTED,
        }
        if child and child.get("error"):
            entry["error"] = child["error"]
        return entry

    def summary(self, execution_arn: str) -> dict[str, Any] | None:
        """The parent's SummariseProjects result, with the children it compensates by name only
        (their requests are the projects'); None if the parent ended before it (its Map failed)."""
        pages = self._sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, reverseOrder=True
        )
        for page in pages:
            for event in page["events"]:
                exited = event.get("stateExitedEventDetails") or {}
                if exited.get("name") != SUMMARY_STATE:
                    continue
                made = json.loads(exited.get("output") or "{}").get("summary") or {}
                # It lists every child that succeeded; the parent compensates them only if one failed.
                compensates = bool(made.get("failed_count"))
                return {
                    "succeeded_count": made.get("succeeded_count"),
                    "failed_count": made.get("failed_count"),
                    "failed": made.get("failed", []),
                    "to_compensate": [c.get("name") for c in made.get("to_compensate", [])]
                    if compensates
                    else [],
                }
        return None
