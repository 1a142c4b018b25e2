"""Generation: turn scenarios into Playwright-style test cases.

Every scenario yields a test that the page loads, and one test per text the user expects
to see. Each test carries the Playwright code a person would run, and the HTTP check the
Execution agent runs without a browser.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from functions.agents.ledger import compensate, created
from functions.common.models import Scenario, TestCase
from functions.common.step import Step
from functions.common.store import SagaStore

STEP = "Generation"


def _playwright(name: str, url: str, expected_text: str | None) -> str:
    lines = [
        "import { test, expect } from '@playwright/test';",
        "",
        f"test({json.dumps(name)}, async ({{ page }}) => {{",
        f"  const response = await page.goto({json.dumps(url)});",
        "  expect(response?.status()).toBe(200);",
    ]
    if expected_text is not None:
        lines.append(f"  await expect(page.getByText({json.dumps(expected_text)})).toBeVisible();")
    lines.append("});")
    return "\n".join(lines) + "\n"


def generate_tests(scenarios: list[Scenario], target_url: str) -> list[TestCase]:
    tests = []
    for scenario in scenarios:
        url = urljoin(target_url if target_url.endswith("/") else target_url + "/", scenario.path.lstrip("/"))
        base = scenario.scenario_id.replace("sc-", "t-", 1)
        name = f"{scenario.path} loads"
        tests.append(
            TestCase(
                test_id=f"{base}-0",
                scenario_id=scenario.scenario_id,
                name=name,
                kind="status",
                url=url,
                code=_playwright(name, url, None),
            )
        )
        for n, text in enumerate(scenario.expectations, start=1):
            name = f"{scenario.path} shows {text!r}"
            tests.append(
                TestCase(
                    test_id=f"{base}-{n}",
                    scenario_id=scenario.scenario_id,
                    name=name,
                    kind="text",
                    url=url,
                    expected_text=text,
                    code=_playwright(name, url, text),
                )
            )
    return tests


def run(step: Step, store: SagaStore) -> dict[str, Any]:
    scenarios = sorted(
        (Scenario.model_validate(i) for i in store.items("scenarios", step.saga_id)),
        key=lambda s: s.scenario_id,
    )
    tests = generate_tests(scenarios, str(step.input.request.target_url))
    to_write, crash = step.faults.partial(step.ctx, tests)
    store.record(step.saga_id, STEP, "tests", [t.model_dump() for t in to_write])
    if crash:
        step.faults.crash_after_partial_write(step.ctx, len(to_write))
    # The ids let a parallel saga's Map run one task per test (ids only: payloads stay small),
    # and each of those tasks reads the faults from here (statemachines.saga.EachItem).
    # As the saga was given them (this step validated them): ``{}`` when it was given none.
    faults = step.saga.get("faults") or {}
    return {"tests": len(tests), "test_ids": [t.test_id for t in tests], "faults": faults}


def undo(step: Step, store: SagaStore) -> dict[str, Any]:
    """Mark this saga's generated tests INVALID: kept for audit, never run again."""
    return compensate(
        store,
        step.saga_id,
        STEP,
        lambda entry: store.set_status("tests", step.saga_id, created(entry, "tests"), "INVALID"),
        fenced=step.fenced,
    )
