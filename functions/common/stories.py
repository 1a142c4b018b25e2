"""The user-story grammar, and how many tests a request yields.

A story names the page it is about (``/pricing``) and, in quotes, what a user should see
there: ``As a visitor I open /pricing and see "Plans"``. No path means the home page. Here,
below both its readers: the Requirements agent derives scenarios with it, and the request
model counts, before any saga starts, the tests those scenarios will yield.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATH = re.compile(r"(?<![\w.:/])(/[A-Za-z0-9_\-./~%]*)")
# Single quotes only around words ("see 'Plans'"), so an apostrophe ("I'm") opens nothing.
_QUOTED = re.compile(r"\"([^\"]{1,120})\"|(?<!\w)'([^']{1,120})'(?!\w)|“([^”]{1,120})”")


def normalised(story: str) -> str:
    return " ".join(story.split())


def page_path(text: str) -> str:
    """The page a (normalised) story is about: its first path outside quotes, else ``/``."""
    found = _PATH.search(_QUOTED.sub("", text))
    return found.group(1).rstrip(".,;:!?") or "/" if found else "/"


def expectations(text: str) -> list[str]:
    """The distinct quoted texts of a (normalised) story, in order."""
    return list(dict.fromkeys(next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)))


def yielded_tests(stories: Iterable[str]) -> int:
    """How many tests the Generation agent makes of these stories: per story (one scenario
    each) a test that the page loads, and one per expected text."""
    return sum(1 + len(expectations(normalised(story))) for story in stories)
