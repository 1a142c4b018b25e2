"""Issue 12, section 1: the API refuses, naming the limit, a request that yields more tests
than every machine can run and roll back; the count it checks is the one Generation makes;
no report item grows with the tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.agents.generation import generate_tests
from functions.agents.reports import PART, joined, split
from functions.agents.requirements import derive_scenarios
from functions.common.models import MAX_TESTS, SagaRequest
from functions.common.stories import yielded_tests
from stepsaga.cli.api_server import ApiServer, serve
from stepsaga.cli.demo_site import STORIES, UNMET_STORY, DemoSite
from stepsaga.embedded import EmbeddedStack
from tests.statemachine.sized_requests import largest_request

pytestmark = pytest.mark.functional

ODD_STORIES = [
    *STORIES,
    UNMET_STORY,
    'I\'m a visitor: I open /a and see "x", "x" again, \'y\', “z” and ""',  # a duplicate, an empty pair
    "No path at all",
    'See "' + "w" * 121 + '" (too long to quote) and "ok"',
]


@pytest.mark.parametrize("stories", [ODD_STORIES, ODD_STORIES[:1], ["I open /"] * 50])
def test_the_count_is_the_tests_generation_makes(stories: list[str]) -> None:
    request = SagaRequest(project="p", target_url="http://127.0.0.1/", user_stories=stories)
    made = generate_tests(derive_scenarios(request, "saga"), str(request.target_url))
    assert yielded_tests(stories) == len(made)


def test_a_large_report_is_kept_in_parts_of_bounded_size() -> None:
    failures = [{"test_id": f"t-{n:05d}", "name": "n" * 600, "reason": "r" * 150} for n in range(1050)]
    outcomes = {f"t-{n:05d}": "FAILED" for n in range(1050)}
    items = split(
        {"report": "analysis", "total": 1050, "failures": failures, "outcomes": outcomes},
        ("failures", "outcomes"),
    )

    assert len(items) == 11 and items[0]["parts"] == 11 and items[0]["failures_count"] == 1050
    assert max(len(json.dumps(i)) for i in items) < PART * 1_000  # ~100 KB, whatever the total
    report = joined(items)["analysis"]
    assert report["failures"] == failures and report["outcomes"] == outcomes and report["total"] == 1050
    assert (
        joined(split({"report": "evolution", "proposals": []}, ("proposals",)))["evolution"]["proposals"]
        == []
    )


@pytest.fixture(scope="module")
def server(stack: EmbeddedStack) -> Iterator[ApiServer]:
    with serve(stack) as running:
        yield running


def _start(server: ApiServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + "/sagas",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": f"size-{uuid.uuid4().hex[:16]}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_largest_request_is_accepted_and_one_test_more_is_refused(
    server: ApiServer, stack: EmbeddedStack, site: DemoSite
) -> None:
    # A fault at Requirements ends the accepted saga at once: the size is what is tested here
    # (tests/statemachine/test_saga_size.py runs sagas of this size to their end).
    fault = {"Requirements": {"mode": "permanent"}}
    status, accepted = _start(server, {"request": largest_request(site.url), "faults": fault})
    assert status == 201, accepted
    stack.wait(accepted["execution_arn"])

    sfn = stack.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation"))["executions"])
    status, refused = _start(server, {"request": largest_request(site.url, extra=1), "faults": fault})

    assert status == 422, refused
    assert refused["error"] == "ValidationError"
    assert refused["message"].startswith("request.user_stories:"), refused
    assert (
        f"yield {MAX_TESTS + 1} tests" in refused["message"]
        and f"at most {MAX_TESTS} (MAX_TESTS)" in refused["message"]
    )
    assert (
        len(sfn.list_executions(stateMachineArn=stack.machine_arn("test-generation"))["executions"]) == before
    )
