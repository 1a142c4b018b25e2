"""bench/peer_durable.py: the durable-functions peer does the saga's work and rolls it back.

Outcomes and data only, never timings (``python -m bench.versus`` measures those).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

pytest.importorskip("aws_durable_execution_sdk_python_testing", reason="the peer extra is not installed")

from aws_durable_execution_sdk_python.retries import RetryDecision

from bench.peer_durable import PeerSaga, retry_strategy
from bench.versus import expected, wrong
from functions.common.errors import AgentPermanentError, AgentTransientError
from functions.common.store import DynamoSagaStore
from statemachines.saga import RetryPolicy

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def peer() -> Iterator[PeerSaga]:
    with PeerSaga() as running:
        yield running


def test_the_happy_saga_writes_every_steps_data(peer: PeerSaga, request_doc: dict[str, Any]) -> None:
    outcome = peer.run(request_doc)

    assert (outcome.status, outcome.error) == ("SUCCEEDED", None)
    assert outcome.result is not None
    assert list(outcome.result["results"]) == [
        "Requirements",
        "Generation",
        "Execution",
        "Observation",
        "Analysis",
        "Evolution",
    ]
    assert len(peer.items("scenarios", outcome.saga_id)) == 3  # the demo request's three stories
    tests = peer.items("tests", outcome.saga_id)
    assert len(tests) == 7 and {t["status"] for t in tests} == {"GENERATED"}
    runs = peer.items("runs", outcome.saga_id)
    assert {r["outcome"] for r in runs} == {"PASSED"} and len(runs) == 7  # the demo site passes all
    assert sorted(r["report"] for r in peer.items("reports", outcome.saga_id)) == [
        "analysis",
        "evolution",
        "observation",
    ]
    assert len(peer.artifact_keys(outcome.saga_id)) == 7
    assert wrong(peer, outcome.saga_id, outcome.status, outcome.error, {}, expected(request_doc)) == ""


def test_a_failure_after_execution_compensates_every_compensable_step(
    peer: PeerSaga, request_doc: dict[str, Any]
) -> None:
    outcome = peer.run(request_doc, faults={"Observation": {"mode": "permanent"}})

    assert (outcome.status, outcome.error) == ("FAILED", "SagaRolledBack")
    saga = outcome.saga_id
    assert peer.items("scenarios", saga) == []  # Requirements deleted them
    assert {t["status"] for t in peer.items("tests", saga)} == {"INVALID"}  # Generation kept them, marked
    runs = peer.items("runs", saga)
    assert len(runs) == 7 and {r["status"] for r in runs} == {"CLEANED"}  # Execution cleaned its runs
    assert peer.artifact_keys(saga) == []  # and deleted its artifacts
    ledger = {step: entry["status"] for step, entry in DynamoSagaStore(peer.settings).ledger(saga).items()}
    assert ledger == {"Requirements": "COMPENSATED", "Generation": "COMPENSATED", "Execution": "COMPENSATED"}


def test_an_invalid_request_is_rejected_without_a_rollback(
    peer: PeerSaga, request_doc: dict[str, Any]
) -> None:
    outcome = peer.run({**request_doc, "target_url": "not a url"})

    assert (outcome.status, outcome.error) == ("FAILED", "InputRejected")
    assert DynamoSagaStore(peer.settings).ledger(outcome.saga_id) == {}  # no step was fenced or undone


def test_the_retry_strategy_is_stepsagas_retrier() -> None:
    decide = retry_strategy(RetryPolicy(max_attempts=3, interval_seconds=1))
    delays = [decide(AgentTransientError("busy"), made) for made in (1, 2, 3, 4)]

    assert [d.should_retry for d in delays] == [True, True, True, False]  # 3 retries after the first
    assert [d.delay_seconds for d in delays[:3]] == [1, 2, 4]
    assert decide(AgentPermanentError("no"), 1) == RetryDecision.no_retry()


def test_the_comparison_plot_has_a_bar_per_side_and_path(tmp_path: Path) -> None:
    from PIL import Image

    from bench.versus import PATHS, SIDES, plot

    medians = {"stepsaga": 60.0, "durable": 150.0, "stock": 300.0}
    report = {
        "runs": 3,
        "concurrency": 5,
        "latency": {
            path: {
                side: {"median_ms": ms, "p95_ms": ms * 1.2, "cpu_ms": ms / 2} for side, ms in medians.items()
            }
            for path in PATHS
        },
        "throughput": {side: 1000 / ms for side, ms in medians.items()},
    }
    plot(report, tmp_path / "versus.png")
    image = Image.open(tmp_path / "versus.png").convert("RGB")
    # Each side's colour (matplotlib's C0, C1, C2) fills its bars.
    colours = {(31, 119, 180), (255, 127, 14), (44, 160, 44)}
    assert len(SIDES) == 3 and colours <= {colour for _count, colour in image.getcolors(1 << 20)}


def test_the_peers_artifact_keys_read_past_the_first_page(peer: PeerSaga) -> None:
    # bench.versus checks a saga's artifacts against its test count: a saga of more than
    # 1,000 tests would have been reported wrong on the first page alone.
    s3 = boto3.client("s3", region_name=os.environ["AWS_REGION"])
    for n in range(1_001):
        s3.put_object(Bucket=peer.settings.artifacts_bucket, Key=f"runs/paged/t{n:04d}.json", Body=b"{}")

    assert len(peer.artifact_keys("paged")) == 1_001
