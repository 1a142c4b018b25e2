"""bench/scale.py runs every size on every machine and reports each run's own size (rows only,
never timings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.common.names import PARALLEL_TEST_GENERATION, TEST_GENERATION

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]


def test_each_machine_runs_the_size_asked_for_and_reports_its_history() -> None:
    # In a process of its own: it deploys an embedded stack, and this worker holds one already.
    machines = [PARALLEL_TEST_GENERATION, TEST_GENERATION]
    result = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--tests", "50", "--machines", *machines],
        cwd=ROOT,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()[2:]]
    assert [(r[0].strip(), r[1].strip(), r[2].strip()) for r in rows] == [
        (machine, "50", "SUCCEEDED") for machine in machines
    ]
    kilobytes_per_test = [float(r[-1]) for r in rows]
    assert all(k > 0 for k in kilobytes_per_test)
