"""What a saga costs per path, from the calls the embedded stack actually made for it.

    python -m bench.cost_measured [--paths happy,Execution] [--duration-ms 100] [--memory-mb 256] [--json]

Each path of the test-generation saga (``PATHS``: the happy path, a permanent failure at each
step, rolled back, and Generation failing once with a retryable error) runs once on the
embedded stack, with the functions' deployed log level and metrics on. While it runs, every
botocore call the saga makes is recorded (``bench.calls``: the orchestrator's and the
functions', not this module's own start, wait and history reads) with what it moved:

- DynamoDB: each item written, at the larger of its size before and after the call (read from
  moto's tables around the call), plus one write per global secondary index holding the item;
  each item (GetItem, BatchGetItem, TransactGetItems) or page (Query, Scan) read, and whether
  strongly consistent. A Query is sized by the items it returns (AWS bills what it evaluates,
  before a filter: the same when no filter is used);
- S3, SQS and EventBridge requests (message bytes, for their 64 KB chunks);
- the Lambda logs: every line the Powertools formatter writes, every EMF metric blob, and the
  runtime's START, END and REPORT lines per invocation (the functions print nothing else);
- Lambda invocations: by Step Functions and by the EventBridge rule (the saga's start and end
  events; AWS services' events on the default bus are free);
- the state machine's log at level ALL with execution data: the history events' JSON;
- transitions: states entered plus retry attempts, from the history.

The dollars are ``statemachines.tools.cost.bill`` of that record (prices:
``statemachines.tools.prices``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from bench import latency
from bench.calls import CallCounter
from statemachines.tools.cost import Assumptions, Call, Measured, bill, render_bills
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.account import ACCOUNT, REGION
from stepsaga.embedded.patches import awslambda

PATHS: dict[str, dict[str, Any]] = {
    **latency.PATHS,
    "retry once at Generation": {"Generation": {"mode": "transient", "times": 1}},
}
# The functions as deployed (infra/stack.py): INFO logs, metrics on; still no X-Ray daemon here.
DEPLOYED_ENV = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}

# The Lambda runtime's own lines per invocation (Active tracing adds the XRAY part to REPORT).
_PLATFORM = (
    "START RequestId: {id} Version: $LATEST\n",
    "END RequestId: {id}\n",
    "REPORT RequestId: {id}\tDuration: 102.47 ms\tBilled Duration: 103 ms\tMemory Size: 256 MB\t"
    "Max Memory Used: 98 MB\t\nXRAY TraceId: 1-{trace}\tSegmentId: {segment}\tSampled: true\t\n",
)


def platform_bytes() -> int:
    """The bytes of one invocation's START, END and REPORT lines, with ids as long as AWS's."""
    ids = {
        "id": str(uuid.uuid4()),
        "trace": f"6752a1b2-{uuid.uuid4().hex[:24]}",
        "segment": uuid.uuid4().hex[:16],
    }
    return sum(len(line.format(**ids).encode()) for line in _PLATFORM)


# -- DynamoDB item sizes --------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    """The size DynamoDB gives an attribute value (wire format), as its documentation counts it."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


class _Tables:
    """moto's DynamoDB tables, read directly (no botocore call, so nothing counted)."""

    def __init__(self) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self.backend = dynamodb_backends[ACCOUNT][REGION]

    def table(self, name: str) -> Any:
        return self.backend.get_table(name.split("/")[-1])

    def stored(self, name: str, key_or_item: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            table = self.table(name)
            hash_key = DynamoType(key_or_item[table.hash_key_attr])
            range_key = DynamoType(key_or_item[table.range_key_attr]) if table.range_key_attr else None
            found = table.get_item(hash_key, range_key)
        except Exception:  # no such table, or a malformed key: the call itself will say so
            return None
        return dict(found.to_json()["Attributes"]) if found is not None else None

    def index_writes(
        self, name: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> list[int]:
        """Writes to the table's global secondary indexes: one per index holding the item (two when
        its index key changed: a delete and a put), each the size of what the index projects."""
        if before is None and after is None:
            return []
        sizes = []
        for index in getattr(self.table(name), "global_indexes", []):
            keys = index.schema_key_attrs
            held = [i for i in (before, after) if i is not None and all(k in i for k in keys)]
            if not held:
                continue
            moved = len(held) == 2 and any(held[0][k] != held[1][k] for k in keys)
            projected = max(self._projected(index, i) for i in held)
            sizes += [projected] * (2 if moved else 1)
        return sizes

    @staticmethod
    def _projected(index: Any, item: dict[str, Any]) -> int:
        projection = (index.projection or {}).get("ProjectionType", "ALL")
        if projection == "ALL":
            return item_size(item)
        keep = set(index.schema_key_attrs) | set(index.table_key_attrs)
        if projection == "INCLUDE":
            keep |= set(index.projection.get("NonKeyAttributes", []))
        return item_size({k: v for k, v in item.items() if k in keep})


# -- the recorder ---------------------------------------------------------------------------------


class CallRecorder(CallCounter):
    """Counts calls (``bench.calls``) and records what each moved, as ``cost.Call``."""

    def __init__(self) -> None:
        super().__init__()
        self.record: list[Call] = []
        self._tables: _Tables | None = None

    def observe(self, call: tuple[str, str], args: tuple[Any, ...], proceed: Callable[[], Any]) -> Any:
        service, operation = call
        params: dict[str, Any] = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if service != "dynamodb":
            result = proceed()
            payload = len(str(params.get("MessageBody", "")).encode())
            if operation == "SendMessageBatch":
                payload = sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", []))
            elif operation == "PutEvents":
                payload = sum(len(json.dumps(e).encode()) for e in params.get("Entries", []))
            self._add(Call(service, operation, payload=payload))
            return result
        if self._tables is None:
            self._tables = _Tables()
        writes = _writes(operation, params)
        before = [self._tables.stored(table, key) for table, key in writes]
        try:
            result = proceed()
        except Exception:  # a failed conditional write or cancelled transaction is still billed
            result = None
            raise
        finally:
            written: list[int] = []
            for (table, key), old in zip(writes, before, strict=True):
                new = self._tables.stored(table, key)
                written.append(max(item_size(old), item_size(new), 1))
                written += self._tables.index_writes(table, old, new)
            read, consistent = _reads(operation, params, result)
            tables = tuple(table for table, _key in writes) or (str(params.get("TableName", "")),)
            self._add(Call(service, operation, tuple(written), tuple(read), consistent, tables=tables))
        return result

    def _add(self, call: Call) -> None:
        with self._lock:
            self.record.append(call)


def _writes(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key or item) of every item a write call touches."""
    if operation == "PutItem":
        return [(params["TableName"], params["Item"])]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], params["Key"])]
    if operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems", []):
            ((kind, body),) = entry.items()  # Put, Update, Delete, ConditionCheck (billed as a write)
            found.append((body["TableName"], body["Item"] if kind == "Put" else body["Key"]))
        return found
    if operation == "BatchWriteItem":
        return [
            (table, request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"])
            for table, requests in params.get("RequestItems", {}).items()
            for request in requests
        ]
    return []


def _reads(operation: str, params: dict[str, Any], result: Any) -> tuple[list[int], bool]:
    """Bytes per read unit of account, and whether the read was strongly consistent."""
    result = result or {}
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return [item_size(result.get("Item"))], consistent
    if operation in ("Query", "Scan"):
        return [sum(item_size(i) for i in result.get("Items", []))], consistent
    if operation == "TransactGetItems":
        return [item_size(r.get("Item")) for r in result.get("Responses", [])], True
    if operation == "BatchGetItem":
        items = [i for found in result.get("Responses", {}).values() for i in found]
        strong = all(t.get("ConsistentRead") for t in params.get("RequestItems", {}).values())
        return [item_size(i) for i in items], strong
    return [], consistent


# -- logs -----------------------------------------------------------------------------------------


def _emf_metrics(line: str) -> int:
    blob = json.loads(line)
    return sum(len(d["Metrics"]) for d in blob.get("_aws", {}).get("CloudWatchMetrics", []))


@contextmanager
def lambda_logs() -> Iterator[dict[str, int]]:
    """Bytes of every Powertools log line formatted and of every EMF blob printed, while inside.

    The EMF blobs are taken from Powertools' own ``print`` (a module global shadowing the
    builtin): counted, not written, as Lambda would ingest them into the function's log.
    """
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics import base
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

    found = {"log_bytes": 0, "emf_bytes": 0, "metrics": 0}
    lock = threading.Lock()
    original = LambdaPowertoolsFormatter.format

    def format(self: Any, record: logging.LogRecord) -> str:
        line = original(self, record)
        with lock:
            found["log_bytes"] += len(line.encode()) + 1  # and its newline
        return line

    def emf(line: str, *_args: Any, **_kwargs: Any) -> None:
        with lock:
            found["emf_bytes"] += len(line.encode()) + 1
            found["metrics"] += _emf_metrics(line)

    LambdaPowertoolsFormatter.format = format  # type: ignore[method-assign]
    for module in (base, cloudwatch):
        module.print = emf  # type: ignore[attr-defined]
    try:
        yield found
    finally:
        LambdaPowertoolsFormatter.format = original  # type: ignore[method-assign]
        for module in (base, cloudwatch):
            del module.print


# -- one path -------------------------------------------------------------------------------------


def transitions(history: list[dict[str, Any]]) -> int:
    """States entered, plus one per retry attempt (a Task scheduled again in the same entry)."""
    count = scheduled = 0
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            count += 1
            scheduled = 0
        elif kind.endswith("Scheduled") and kind != "MapIterationScheduled":
            scheduled += 1
            count += scheduled > 1
    return count


def measure(stack: EmbeddedStack, recorder: CallRecorder, request: dict[str, Any], path: str) -> Measured:
    faults = PATHS[path]
    recorder.record = []
    invoked = dict(awslambda.INVOCATIONS)
    with lambda_logs() as logs, recorder.counting():
        described = stack.run(request, faults)
    # Every function run: by Step Functions (lambda.Invoke) and by the EventBridge rule (in-process).
    invocations = sum(awslambda.INVOCATIONS.values()) - sum(invoked.values())
    if any(fault["mode"] == "permanent" for fault in faults.values()):
        assert (described["status"], described.get("error")) == ("FAILED", "SagaRolledBack"), described
    else:
        assert described["status"] == "SUCCEEDED", described
    calls = tuple(recorder.record)
    history = stack.history(described["executionArn"])
    return Measured(
        path=path,
        calls=calls,
        transitions=transitions(history),
        lambda_invocations=invocations,
        lambda_log_bytes=logs["log_bytes"] + logs["emf_bytes"] + invocations * platform_bytes(),
        machine_log_bytes=sum(len(json.dumps(e, default=str).encode()) + 1 for e in history),
        metrics=logs["metrics"],
        traces=1,
        segments=1 + invocations,
    )


@contextmanager
def deployed_env() -> Iterator[None]:
    """The functions' log level and metrics as deployed, for the sagas run inside."""
    saved = dict(awslambda.RUNTIME_ENV)
    awslambda.RUNTIME_ENV.update(DEPLOYED_ENV)
    try:
        yield
    finally:
        awslambda.RUNTIME_ENV.clear()
        awslambda.RUNTIME_ENV.update(saved)


@contextmanager
def recording(stack: EmbeddedStack, request: dict[str, Any]) -> Iterator[Callable[[str], Measured]]:
    """``with recording(stack, request) as run: run("happy")``, on a running stack."""
    recorder = CallRecorder()
    with deployed_env():
        recorder.install()
        try:
            with lambda_logs():  # first imports and clients: not a path's
                stack.run(request)
            yield lambda path: measure(stack, recorder, request, path)
        finally:
            recorder.uninstall()


@contextmanager
def measuring() -> Iterator[Callable[[str], Measured]]:
    """A demo site and a deployed stack of their own, recorded."""
    warnings.simplefilter("ignore")
    with DemoSite() as site, EmbeddedStack() as stack, recording(stack, demo_request(site.url)) as run:
        yield run


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """The functions' log lines (counted, and at INFO) kept off the terminal: fd 1 to /dev/null."""
    sys.stdout.flush()
    saved, sink = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)


def summary(m: Measured) -> dict[str, Any]:
    by_operation: dict[str, int] = {}
    for call in m.calls:
        key = f"{call.service}.{call.operation}"
        by_operation[key] = by_operation.get(key, 0) + 1
    found = asdict(m)
    found.pop("calls")
    return {**found, "calls": dict(sorted(by_operation.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--paths", default="", help="comma-separated: happy, or step names (default: all)")
    parser.add_argument("--duration-ms", type=float, default=100.0, help="Lambda duration per invocation")
    parser.add_argument("--memory-mb", type=int, default=256, help="Lambda memory (256, as deployed)")
    parser.add_argument("--json", action="store_true", help="the records and bills as JSON")
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
    names = [n for n in PATHS if not wanted or n in wanted or n.removeprefix("fail at ") in wanted]
    assume = Assumptions(duration_ms=args.duration_ms, memory_mb=args.memory_mb)
    with quiet_stdout(), measuring() as run:
        measured = [run(name) for name in names]
    if args.json:
        bills = [bill(m, assume) for m in measured]
        print(
            json.dumps(
                [{**summary(m), "bill": asdict(b)} for m, b in zip(measured, bills, strict=True)], indent=2
            )
        )
    else:
        print(render_bills(measured, assume), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
