"""functions/agents/generation.py: scenarios -> Playwright-style test cases."""

from __future__ import annotations

import json

import pytest

from functions.agents.generation import generate_tests
from functions.common.models import Scenario

pytestmark = pytest.mark.unit


def _scenario(
    path: str = "/pricing", expectations: list[str] | None = None, sid: str = "sc-00-abcdef12"
) -> Scenario:
    return Scenario(
        scenario_id=sid,
        title="t",
        story="s",
        path=path,
        expectations=["Plans", "Free tier"] if expectations is None else expectations,
    )


def test_one_status_test_and_one_text_test_per_expectation() -> None:
    tests = generate_tests([_scenario()], "https://example.com")
    assert [(t.test_id, t.kind, t.expected_text) for t in tests] == [
        ("t-00-abcdef12-0", "status", None),
        ("t-00-abcdef12-1", "text", "Plans"),
        ("t-00-abcdef12-2", "text", "Free tier"),
    ]
    assert {t.scenario_id for t in tests} == {"sc-00-abcdef12"}
    assert all(t.expected_status == 200 and t.status == "GENERATED" for t in tests)
    assert [t.name for t in tests] == [
        "/pricing loads",
        "/pricing shows 'Plans'",
        "/pricing shows 'Free tier'",
    ]


def test_a_scenario_without_expectations_yields_only_the_status_test() -> None:
    tests = generate_tests([_scenario(expectations=[])], "https://example.com")
    assert [t.kind for t in tests] == ["status"]


def test_tests_of_several_scenarios_are_kept_apart() -> None:
    tests = generate_tests(
        [
            _scenario(sid="sc-00-aaaaaaaa", expectations=["A"]),
            _scenario(path="/", sid="sc-01-bbbbbbbb", expectations=[]),
        ],
        "https://example.com",
    )
    assert [t.test_id for t in tests] == ["t-00-aaaaaaaa-0", "t-00-aaaaaaaa-1", "t-01-bbbbbbbb-0"]
    assert len({t.test_id for t in tests}) == len(tests)


@pytest.mark.parametrize(
    ("target", "path", "url"),
    [
        ("https://example.com", "/pricing", "https://example.com/pricing"),
        ("https://example.com/", "/pricing", "https://example.com/pricing"),
        ("https://example.com/app", "/pricing", "https://example.com/app/pricing"),
        ("https://example.com/app/", "/pricing", "https://example.com/app/pricing"),
        ("https://example.com/app", "/", "https://example.com/app/"),
        ("https://example.com", "/docs/a/b", "https://example.com/docs/a/b"),
        ("http://127.0.0.1:8080", "/x", "http://127.0.0.1:8080/x"),
        # A scheme-relative path must not escape the target's host.
        ("https://example.com", "//evil.example/x", "https://example.com/evil.example/x"),
    ],
)
def test_urls_are_joined_under_the_target(target: str, path: str, url: str) -> None:
    tests = generate_tests([_scenario(path=path, expectations=["A"])], target)
    assert {t.url for t in tests} == {url}


def test_playwright_code_visits_the_page_and_checks_the_text() -> None:
    status, text = generate_tests([_scenario(expectations=["Plans"])], "https://example.com")
    assert 'page.goto("https://example.com/pricing")' in status.code
    assert "toBe(200)" in status.code
    assert "getByText" not in status.code
    assert 'page.getByText("Plans")' in text.code
    assert "toBeVisible()" in text.code
    assert text.code.startswith("import { test, expect } from '@playwright/test';\n")
    assert text.code.endswith("});\n")


def test_playwright_strings_are_json_escaped() -> None:
    tricky = 'Say "hi" \\ </script>\n'
    (_, text) = generate_tests([_scenario(expectations=[tricky])], "https://example.com")
    assert f"page.getByText({json.dumps(tricky)})" in text.code
    assert f"test({json.dumps(text.name)}," in text.code
    # The quote in the expectation does not terminate the JS string literal.
    assert 'getByText("Say \\"hi\\"' in text.code
