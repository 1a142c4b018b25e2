"""The calls the code makes fit the IAM the stack grants (infra/permissions.py): a step's ledger
calls name only its own entries, by the actions declared for it, and Execution reads a saga's
priority without asking for anything else of its record (the task token)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.settings import Settings
from functions.common.store import DynamoSagaStore
from functions.control.records import SagaRecords
from infra.permissions import function_grants

SAGA = "saga-1"


class _Recorder:
    """A DynamoDB client that records (action, table, key) of every item it is asked to touch."""

    def __init__(self, *, fenced: bool = False) -> None:
        self.touched: list[tuple[str, str, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self._fenced = fenced

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        for item in TransactItems:
            [(kind, request)] = item.items()
            action = {"Update": "UpdateItem", "Put": "PutItem"}[kind]
            key = request.get("Key") or {}
            self.touched.append((action, request["TableName"], key))

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.touched.append(("UpdateItem", request["TableName"], request["Key"]))
        if self._fenced:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
        return {"Attributes": {"status": {"S": "COMPENSATING"}, "chunks": {"N": "1"}}}  # a reserved chunk

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for table, request in RequestItems.items():
            self.touched.extend(("BatchGetItem", table, key) for key in request["Keys"])
        return {"Responses": {}}

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.touched.append(("GetItem", request["TableName"], request["Key"]))
        self.requests.append(request)
        return {"Item": {"status": {"S": "COMPENSATED"}, "priority": {"S": "high"}}}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    monkeypatch.setattr(aws, "client", lambda service: recorder)
    return recorder


def _ledger_grants(function: str) -> dict[str, set[str]]:
    """Step prefix -> the ledger actions the allow-list gives ``function`` on that step's entries."""
    found: dict[str, set[str]] = {}
    for action, resource in function_grants(function):
        match = re.fullmatch(r"LedgerTable\[LeadingKeys ([A-Za-z]+#)\*\]", resource)
        if match:
            found.setdefault(match.group(1), set()).add(action.removeprefix("dynamodb:"))
    return found


def _assert_allowed(touched: list[tuple[str, str, dict[str, Any]]], function: str) -> None:
    allowed = _ledger_grants(function)
    ledger_calls = [(action, key) for action, table, key in touched if table == "Ledger"]
    assert ledger_calls
    for action, key in ledger_calls:
        [(name, value)] = key.items()
        assert name == "entry"
        prefixes = [p for p in allowed if value["S"].startswith(p)]
        assert prefixes and action in allowed[prefixes[0]], (function, action, value)


SETTINGS = Settings(ledger_table="Ledger", scenarios_table="Scenarios", runs_table="Runs")


def test_a_forward_step_writes_only_its_own_ledger_entries(recorder: _Recorder) -> None:
    store = DynamoSagaStore(SETTINGS)
    store.record(SAGA, "Requirements", "scenarios", [{"scenario_id": "s-1"}])
    _assert_allowed(recorder.touched, "RequirementsFunction")
    recorder.touched.clear()
    store.record_artifacts(SAGA, "Execution", ["runs/saga-1/t-1.json"])
    store.record(SAGA, "Execution", "runs", [{"test_id": "t-1"}])
    _assert_allowed(recorder.touched, "ExecuteTestFunction")
    with pytest.raises(AssertionError):  # and the check does tell steps apart
        _assert_allowed(recorder.touched, "RequirementsFunction")


@pytest.mark.parametrize("fenced", [False, True], ids=["fences", "already-compensated"])
def test_a_compensation_fences_and_closes_only_its_own_steps_entry(
    monkeypatch: pytest.MonkeyPatch, fenced: bool
) -> None:
    recorder = _Recorder(fenced=fenced)
    monkeypatch.setattr(aws, "client", lambda service: recorder)
    store = DynamoSagaStore(SETTINGS)
    store.begin_compensation(SAGA, "Generation")
    if not fenced:
        store.finish_compensation(SAGA, "Generation", 2)
    _assert_allowed(recorder.touched, "CompensateGenerationFunction")


def test_execution_asks_for_the_priority_alone(recorder: _Recorder) -> None:
    assert SagaRecords("Sagas").priority(SAGA) == "high"
    [request] = recorder.requests
    projected = {
        request.get("ExpressionAttributeNames", {}).get(name.strip(), name.strip())
        for name in request["ProjectionExpression"].split(",")
    }
    [condition] = [
        resource
        for action, resource in function_grants("ExecutionFunction")
        if action == "dynamodb:GetItem" and resource.startswith("SagasTable[")
    ]
    attributes = set(re.search(r"Attributes ([a-z_,]+)", condition).group(1).split(","))  # type: ignore[union-attr]
    assert projected <= attributes and "task_token" not in attributes
