"""The API fuzzed from its own OpenAPI document (issue 12, section 6): whatever schemathesis
sends, valid or not, the API answers no 5xx and only statuses the document declares.

Only against the local server (``--target embedded``): the cases start real sagas. Every
``target_url`` a case carries is pointed at the demo site, so no saga fetches anything but
127.0.0.1. Bounded: a few dozen cases per operation, no deadline (a start waits on the stack).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from tests.e2e.conftest import Target

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25


def _document() -> dict[str, Any]:
    """The document GET /openapi.json serves (built here: the cases are made at collection)."""
    from functions.api.app import HANDLERS

    return dict(json.loads(HANDLERS["openapi"]().body))


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def local(target: Target) -> Target:
    if target.name != "embedded":
        pytest.skip("the fuzzer starts sagas: run it against the local server only")
    code, served = target.request("GET", "/openapi.json")
    assert code == 200 and served == _document(), served
    return target


def _aim_at_the_demo_site(body: Any, site: str) -> None:
    """A generated request's target becomes the demo site (any other would be fetched), and so
    does each project's of a parent saga (``projects[i].request``)."""
    if not isinstance(body, dict):
        return
    projects = body.get("projects")
    requests = [body.get("request")]
    requests += (
        [p.get("request") for p in projects if isinstance(p, dict)] if isinstance(projects, list) else []
    )
    for request in requests:
        if isinstance(request, dict) and "target_url" in request:
            request["target_url"] = site


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_only_documented_answers(case: Any, local: Target) -> None:
    assert local.site_url
    _aim_at_the_demo_site(case.body, local.site_url)
    case.call_and_validate(
        base_url=local.client.endpoint, checks=[not_a_server_error, status_code_conformance], timeout=30
    )
