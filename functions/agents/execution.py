"""Execution: run each generated test's check against the target.

A callback step: the handler is invoked asynchronously with a task token, heartbeats after
every test and reports the outcome itself. Every artifact key is written to the ledger
before the artifact, so a crash at any point leaves nothing the compensation cannot find.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from functions.agents.ledger import compensate, created
from functions.common.errors import AgentPermanentError, AgentTransientError, SagaFenced
from functions.common.models import RunResult, TestCase
from functions.common.names import ARTIFACTS_OF_SAGA
from functions.common.step import Step
from functions.common.store import ArtifactStore, SagaStore
from functions.common.targets import HttpResponse, TargetRefused, TargetUnreachable

STEP = "Execution"
_INVISIBLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")

Fetch = Callable[[str], HttpResponse]


def _fragments(body: str) -> list[str]:
    text = _TAG.split(_INVISIBLE.sub(" ", body))
    return [f for f in (" ".join(html.unescape(t).split()) for t in text) if f]


def visible_text(body: str) -> str:
    """All the text a person would read on the page, as one line."""
    return " ".join(_fragments(body))


def visible_texts(body: str, limit: int = 50) -> list[str]:
    """Short distinct text fragments (Evolution's candidates for a changed expected text)."""
    return list(dict.fromkeys(t for t in _fragments(body) if len(t) <= 120))[:limit]


def evaluate(test: TestCase, response: HttpResponse) -> RunResult:
    """Judge one response against one test: a pure function of the two."""
    if response.status != test.expected_status:
        outcome, detail = "FAILED", f"expected HTTP {test.expected_status}, got {response.status}"
    elif test.kind == "text" and test.expected_text and test.expected_text not in visible_text(response.body):
        outcome, detail = "FAILED", f"text {test.expected_text!r} not found on the page"
    else:
        outcome, detail = "PASSED", "ok"
    return RunResult(
        test_id=test.test_id,
        outcome=outcome,
        status_code=response.status,
        duration_ms=response.elapsed_ms,
        detail=detail,
        page_words=visible_texts(response.body) if outcome == "FAILED" else [],
    )


def check(test: TestCase, fetch: Fetch) -> RunResult:
    try:
        return evaluate(test, fetch(test.url))
    except TargetRefused:
        raise
    except OSError as error:  # connection refused, timeout, TLS failure: the test's own outcome
        return RunResult(test_id=test.test_id, outcome="ERROR", duration_ms=0, detail=f"unreachable: {error}")


def artifact_key(saga_id: str, test_id: str) -> str:
    return f"{ARTIFACTS_OF_SAGA.format(saga_id)}{test_id}.json"


CONCURRENCY = {"low": 1, "normal": 4, "high": 8}  # checks in flight at once, by saga priority


RECORD_EVERY = 10  # runs per ledger transaction: a retry loses at most this much work
RESERVE_SECONDS = 60.0  # stop this early before Lambda's limit and let a retry resume


def run(
    step: Step,
    store: SagaStore,
    artifacts: ArtifactStore,
    fetch: Fetch,
    heartbeat: Callable[[], None],
    priority: str = "normal",
    seconds_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Run every pending test; a retry resumes after the runs the last attempt recorded.

    The saga's priority sets how many checks run at once (a signal can change it while the
    saga waits). The agent heartbeats as each check completes, records runs in small
    batches, and hands over to a retry before Lambda's 15 minutes run out, so a long suite
    spans several invocations without redoing what is recorded.
    """
    heartbeat()
    tests = [TestCase.model_validate(t) for t in store.items("tests", step.saga_id)]
    pending = sorted((t for t in tests if t.status == "GENERATED"), key=lambda t: t.test_id)
    already = {r["test_id"]: r for r in store.items("runs", step.saga_id)}
    todo = [t for t in pending if t.test_id not in already]
    to_run, crash = step.faults.partial(step.ctx, todo)
    # Intent first: every artifact key is in the ledger before the artifact exists, so a
    # crash at any later point leaves nothing the compensation cannot find.
    store.record_artifacts(step.saga_id, STEP, [artifact_key(step.saga_id, t.test_id) for t in to_run])
    results = [RunResult.model_validate(r) for r in already.values()]
    unrecorded: list[RunResult] = []
    concurrency = CONCURRENCY.get(priority, CONCURRENCY["normal"])

    def flush() -> None:
        if unrecorded:
            store.record(step.saga_id, STEP, "runs", [r.model_dump() for r in unrecorded])
            results.extend(unrecorded)
            unrecorded.clear()

    written: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = {pool.submit(check, test, fetch): test for test in to_run}
            for future in as_completed(futures):
                test, result = futures[future], future.result()
                result.artifact_key = artifact_key(step.saga_id, test.test_id)
                payload = {"test": test.model_dump(), "result": result.model_dump()}
                artifacts.put(result.artifact_key, json.dumps(payload).encode())
                written.append(result.artifact_key)
                unrecorded.append(result)
                heartbeat()
                if len(unrecorded) >= RECORD_EVERY:
                    flush()
                if seconds_left is not None and seconds_left() < RESERVE_SECONDS:
                    flush()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise AgentTransientError(
                        f"{len(results)} of {len(pending)} tests ran before the invocation's time ran out; "
                        "a retry resumes with the rest"
                    )
        flush()
    except SagaFenced:
        # A late attempt: the rollback already ran (and may have swept these keys before they
        # existed). Remove what this attempt put, so nothing outlives the compensation.
        artifacts.delete(written)
        raise
    if crash:
        step.faults.crash_after_partial_write(step.ctx, len(results) - len(already))
    if results and all(r.outcome == "ERROR" and r.status_code is None for r in results):
        raise TargetUnreachable(f"none of the {len(results)} tests reached the target ({results[0].detail})")
    passed = sum(r.outcome == "PASSED" for r in results)
    return {
        "runs": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "priority": priority,
        "concurrency": concurrency,
    }


def run_one(step: Step, store: SagaStore, artifacts: ArtifactStore, fetch: Fetch) -> dict[str, Any]:
    """Run one test (a parallel saga's Map item); its run is recorded and compensable alone."""
    test_id = str(step.item)
    found = store.get("tests", step.saga_id, test_id)
    if found is None:
        raise AgentPermanentError(f"no test {test_id!r} in saga {step.saga_id}")
    test = TestCase.model_validate(found)
    key = artifact_key(step.saga_id, test_id)
    store.record_artifacts(step.saga_id, STEP, [key])
    result = check(test, fetch)
    result.artifact_key = key
    artifacts.put(key, json.dumps({"test": test.model_dump(), "result": result.model_dump()}).encode())
    store.record(step.saga_id, STEP, "runs", [result.model_dump()])
    return {"test_id": test_id, "outcome": result.outcome}


def undo(step: Step, store: SagaStore, artifacts: ArtifactStore) -> dict[str, Any]:
    """Delete the artifacts this saga's Execution step wrote and mark its runs CLEANED."""

    def _undo(entry: dict[str, Any]) -> int:
        # The ledger's keys, plus anything under the saga's own prefix: an attempt that the
        # fence stopped between its S3 put and its ledger write leaves nothing behind either.
        keys = set(created(entry, "artifacts")) | set(artifacts.keys(ARTIFACTS_OF_SAGA.format(step.saga_id)))
        deleted = artifacts.delete(sorted(keys))
        cleaned = store.set_status("runs", step.saga_id, created(entry, "runs"), "CLEANED")
        return deleted + cleaned

    return compensate(store, step.saga_id, STEP, _undo, fenced=step.fenced)
