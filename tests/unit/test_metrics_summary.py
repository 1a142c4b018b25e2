"""The EMF parser and aggregation of ``stepsaga.cli.metrics_summary``, on made-up lines."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from stepsaga.cli import metrics_summary as ms

pytestmark = pytest.mark.unit


def emf(name: str, value: Any, unit: str = "Count", **dimensions: str) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "StepSaga",
                        "Dimensions": [[*dimensions, "service"]],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            **dimensions,
            "service": "test",
            name: value,
        }
    )


def saga(outcome: str, saga_type: str = "test-generation") -> str:
    return emf(outcome, [1.0], saga_type=saga_type)


def duration(step: str, ms: float) -> str:
    return emf("StepDuration", [ms], "Milliseconds", step=step)


def test_parse_reads_values_units_and_dimensions_and_skips_everything_else():
    lines = [
        "START RequestId: 1 Version: $LATEST",
        '{"level": "INFO", "message": "step done"}',  # a log line, not EMF
        "not json {",
        duration("Requirements", 12.5),
        "2026-11-29T19:00:00Z\t" + emf("StepFailed", 1, step="Execution", error="AgentPermanentError"),
        emf("StepDuration", [3, 4], "Milliseconds", step="Generation"),  # several values in one document
    ]
    samples = list(ms.parse(lines))
    assert [(s.name, s.value, s.unit) for s in samples] == [
        ("StepDuration", 12.5, "Milliseconds"),
        ("StepFailed", 1.0, "Count"),
        ("StepDuration", 3.0, "Milliseconds"),
        ("StepDuration", 4.0, "Milliseconds"),
    ]
    assert samples[1].dimension("step") == "Execution"
    assert samples[1].dimension("error") == "AgentPermanentError"
    assert samples[0].dimension("service") == "test"


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert ms.percentile(values, 95) == 95.0
    assert ms.percentile([7.0], 95) == 7.0
    assert ms.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert ms.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    with pytest.raises(ValueError):
        ms.percentile([], 95)


def test_summary_rates_and_p95_per_step():
    lines = [saga("SagasStarted") for _ in range(5)]
    lines += [saga("SagasSucceeded") for _ in range(6)]
    lines += [saga("SagasRolledBack"), saga("SagasCompensationFailed"), saga("SagasFailed")]
    lines += [saga("SagasSucceeded", "reviewed-test-generation")]
    lines += [duration("Requirements", float(v)) for v in range(1, 21)]  # p95 of 1..20 = 19
    lines += [duration("Execution", 250.0)]
    lines += [emf("StepFailed", [1.0], step="Execution", error="AgentPermanentError") for _ in range(2)]
    lines += [emf("CompensationExecuted", [1.0], step="CompensateExecution")]
    summary = ms.summarise(ms.parse(lines))

    assert summary.finished == 10
    assert summary.started == 5
    assert summary.success_rate == pytest.approx(0.7)
    assert summary.compensation_rate == pytest.approx(0.2)  # rolled back + compensation failed
    assert summary.p95() == {"Execution": 250.0, "Requirements": 19.0}
    assert summary.step_failures == {("Execution", "AgentPermanentError"): 2}
    assert summary.compensations == {"CompensateExecution": 1}
    assert summary.outcomes_by_type["reviewed-test-generation"]["SagasSucceeded"] == 1

    text = ms.render(summary)
    assert "success rate: 70.0%" in text
    assert "compensation rate: 20.0%" in text
    assert "Requirements" in text and "19.0" in text
    assert "Execution, AgentPermanentError: 2" in text


def test_no_sagas_means_no_rates():
    summary = ms.summarise(ms.parse([duration("Requirements", 5.0)]))
    assert summary.success_rate is None and summary.compensation_rate is None
    assert "success rate: n/a" in ms.render(summary)
    empty = ms.render(ms.summarise([]))
    assert "POWERTOOLS_METRICS_DISABLED=false" in empty


def test_main_reads_a_file_and_stdin(tmp_path, capsys, monkeypatch):
    path = tmp_path / "emf.log"
    path.write_text("\n".join([saga("SagasSucceeded"), saga("SagasRolledBack"), duration("Analysis", 9.0)]))
    assert ms.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "success rate: 50.0%" in out and "compensation rate: 50.0%" in out

    monkeypatch.setattr("sys.stdin", io.StringIO(saga("SagasSucceeded") + "\n"))
    assert ms.main(["-", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["success_rate"] == 1.0 and document["finished"] == 1


def test_main_needs_exactly_one_source():
    with pytest.raises(SystemExit):
        ms.main([])
    with pytest.raises(SystemExit):
        ms.main(["file.log", "--run", "2"])
