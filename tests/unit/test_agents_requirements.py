"""functions/agents/requirements.py: user stories -> scenarios."""

from __future__ import annotations

import re

import pytest

from functions.agents.requirements import derive_scenarios, scenario_id
from functions.common.models import SagaRequest, Scenario

pytestmark = pytest.mark.unit


def _derive(*stories: str, saga_id: str = "saga-1") -> list[Scenario]:
    request = SagaRequest(project="demo", target_url="https://example.com", user_stories=list(stories))
    return derive_scenarios(request, saga_id)


def _one(story: str) -> Scenario:
    (scenario,) = _derive(story)
    return scenario


@pytest.mark.parametrize(
    ("story", "path"),
    [
        ('As a visitor I open /pricing and see "Plans"', "/pricing"),
        ("I open /docs/getting-started to read", "/docs/getting-started"),
        ("I open /files/report_v2.pdf", "/files/report_v2.pdf"),
        ("I open /~alice/home%20page", "/~alice/home%20page"),
        ("/login is where I start", "/login"),
        ("I open the home page", "/"),
        ("I read the and/or clause", "/"),  # a slash inside a word is not a path
        ("I open https://example.com/pricing", "/"),  # neither is the path of an absolute URL
        ('I see "/not-a-path" on /about', "/about"),  # quoted text is what is shown, not where
    ],
)
def test_path_extraction(story: str, path: str) -> None:
    assert _one(story).path == path


def test_only_the_first_path_is_used() -> None:
    assert _one("I open /a and then /b").path == "/a"


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        ('On /pricing I see "Plans"', ["Plans"]),
        ("On /pricing I see 'Plans'", ["Plans"]),
        ("On /pricing I see \u201cPlans\u201d", ["Plans"]),
        ("On /pricing I see \"Plans\" and 'Free tier'", ["Plans", "Free tier"]),
        ("On /pricing I see 'Say \"hi\"'", ['Say "hi"']),
        ("On /pricing I see nothing in particular", []),
    ],
)
def test_quoted_expectations(story: str, expected: list[str]) -> None:
    assert _one(story).expectations == expected


def test_expectations_are_deduplicated_in_order() -> None:
    assert _one('I see "B", then "A", then \'B\' again').expectations == ["B", "A"]


def test_whitespace_is_normalised_in_story_and_title() -> None:
    scenario = _one('  I open\n/pricing \t and   see   "Plans"  ')
    assert scenario.story == 'I open /pricing and see "Plans"'
    assert scenario.title == scenario.story


def test_short_titles_are_kept_whole() -> None:
    story = "x" * 80
    assert _one(story).title == story


def test_long_titles_are_truncated_to_80_characters() -> None:
    story = "I open /pricing and " + "look around " * 20
    scenario = _one(story)
    assert len(scenario.title) == 80
    assert scenario.title.endswith("...")
    assert scenario.title[:77] == scenario.story[:77]
    assert scenario.story == " ".join(story.split())  # the story itself is kept whole


def test_ids_are_deterministic_indexed_and_saga_scoped() -> None:
    stories = ['I open /a and see "A"', 'I open /b and see "B"']
    first = _derive(*stories)
    again = _derive(*stories)
    assert [s.scenario_id for s in first] == [s.scenario_id for s in again]
    assert all(re.fullmatch(r"sc-\d{2}-[0-9a-f]{8}", s.scenario_id) for s in first)
    assert [s.scenario_id[:5] for s in first] == ["sc-00", "sc-01"]
    other = _derive(*stories, saga_id="saga-2")
    assert {s.scenario_id for s in first}.isdisjoint(s.scenario_id for s in other)


def test_identical_stories_get_distinct_ids() -> None:
    a, b = _derive("I open /a", "I open /a")
    assert a.scenario_id != b.scenario_id


def test_scenario_id_depends_on_every_input() -> None:
    base = scenario_id("s", 1, "story")
    assert base == scenario_id("s", 1, "story")
    assert (
        len({base, scenario_id("t", 1, "story"), scenario_id("s", 2, "story"), scenario_id("s", 1, "other")})
        == 4
    )


def test_one_scenario_per_story_in_order() -> None:
    scenarios = _derive("I open /a", "I open /b", "I open /c")
    assert [s.path for s in scenarios] == ["/a", "/b", "/c"]


def test_apostrophes_do_not_start_a_quoted_expectation() -> None:
    scenario = _one("As a user I'm on /pricing and want to see 'Plans'")
    assert scenario.path == "/pricing"
    assert scenario.expectations == ["Plans"]


def test_a_path_at_the_end_of_a_sentence_drops_the_full_stop() -> None:
    assert _one("As a visitor I open /pricing.").path == "/pricing"
