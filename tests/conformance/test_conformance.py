"""Each case's outcome on the target is the one AWS documents for it (see ``cases``)."""

from __future__ import annotations

import pytest

from tests.conformance.case import Case
from tests.conformance.runner import Outcome

pytestmark = pytest.mark.conformance


def test_case(case: Case, outcomes: dict[str, Outcome | BaseException | str]) -> None:
    found = outcomes[case.name]
    if isinstance(found, str):
        pytest.skip(found)
    if isinstance(found, BaseException):
        raise found
    problems = found.differences(case)
    assert not problems, f"{case.name} ({case.doc}):\n  " + "\n  ".join(problems)
