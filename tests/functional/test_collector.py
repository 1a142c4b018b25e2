"""While an embedded stack is deployed, the collector leaves its heap alone and collects young
objects in batches; closing the stack hands both back (``EmbeddedStack.deploy``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stepsaga.embedded.stack import COLLECT_EVERY

pytestmark = pytest.mark.functional

# In a process of its own: this one may hold the session's stack already (one per process).
PROBE = """
import gc, json
from stepsaga.embedded import EmbeddedStack
gc.set_threshold(701, 11, 12)  # the process's own, whatever they are
with EmbeddedStack():
    during = [gc.get_threshold(), gc.get_freeze_count()]
print(json.dumps({"during": during, "after": [gc.get_threshold(), gc.get_freeze_count()]}))
"""


def test_a_deployed_stack_is_frozen_and_collected_in_batches_and_handed_back() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    (thresholds, frozen), after = seen["during"], seen["after"]
    assert tuple(thresholds) == COLLECT_EVERY and frozen > 100_000
    assert after == [[701, 11, 12], 0]
