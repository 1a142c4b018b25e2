"""While an embedded stack is deployed, the collector leaves its heap alone and collects young
objects in batches; closing the stack hands both back (``EmbeddedStack.deploy``)."""

from __future__ import annotations

import gc

import pytest

from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.stack import COLLECT_EVERY

pytestmark = pytest.mark.functional


def test_a_deployed_stack_is_frozen_and_collected_in_batches_and_handed_back() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count() > 0  # the session's stack, if any
    gc.set_threshold(701, 11, 12)  # the process's own, whatever they are
    try:
        with EmbeddedStack():
            assert gc.get_freeze_count() > 100_000
            assert gc.get_threshold() == COLLECT_EVERY
        assert gc.get_threshold() == (701, 11, 12)
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
        if frozen:
            gc.freeze()
