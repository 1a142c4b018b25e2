"""Requests of a chosen size: the largest the API accepts (``MAX_TESTS``) and one more."""

from __future__ import annotations

from typing import Any

from functions.common.models import MAX_STORIES, MAX_STORY_CHARS, MAX_TESTS
from functions.common.stories import yielded_tests

HOME_TEXT = "Welcome to Acme"  # on the demo site's home page: every check of a substring passes


def _substrings(text: str) -> list[str]:
    found = {text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
    return sorted((s for s in found if s == s.strip()), key=lambda s: (len(s), s))


def story(expected: int) -> str:
    """A story about the home page with ``expected`` distinct quoted texts it shows."""
    texts = _substrings(HOME_TEXT)[:expected]
    assert len(texts) == expected
    text = "I open / and see " + " ".join(f'"{t}"' for t in texts)
    assert len(text) <= MAX_STORY_CHARS
    return text


def request_of(url: str, tests: int) -> dict[str, Any]:
    """A request that yields ``tests`` tests (at least ``MAX_STORIES``): ``MAX_STORIES`` stories alike."""
    per_story, rest = divmod(tests, MAX_STORIES)
    assert per_story >= 1, f"{tests} tests: at least one per story ({MAX_STORIES})"
    stories = [story(per_story - 1 + (n < rest)) for n in range(MAX_STORIES)]
    assert yielded_tests(stories) == tests
    return {"project": "acme-web", "target_url": url, "user_stories": stories}


def largest_request(url: str, extra: int = 0) -> dict[str, Any]:
    """The most tests a request may yield (plus ``extra``)."""
    return request_of(url, MAX_TESTS + extra)
