"""Every conformance case, by area (each module's ``CASES``)."""

from __future__ import annotations

import dataclasses

from tests.conformance.case import Case
from tests.conformance.cases import (
    basics,
    callbacks,
    errors,
    lambda_runtime,
    map_parallel,
    nested,
    retries,
    timeouts,
)

AREAS = (errors, retries, map_parallel, timeouts, callbacks, nested, lambda_runtime, basics)
CASES: list[Case] = [dataclasses.replace(case, area=area.AREA) for area in AREAS for case in area.CASES]

_names = [case.name for case in CASES]
assert len(set(_names)) == len(_names), "case names must be unique"
