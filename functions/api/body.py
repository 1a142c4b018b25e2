"""What a request body must be before it is parsed: UTF-8 text, nested no deeper than any
request needs.

Powertools decodes and parses the body inside its validation middleware, where a body that is
not UTF-8 raises ``UnicodeDecodeError`` and one nested ~1,000 deep ``RecursionError`` (both
answered 500); checked here first, each is a 400 naming the body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

# Every document the API takes is at most 4 levels deep (faults.<state>.items[...]); headroom.
MAX_DEPTH = 32

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count)."""
    steps = (1 if bracket in "[{" else -1 for bracket in _BRACKETS.findall(_STRINGS.sub("", text)))
    return max(accumulate(steps), default=0)


def problem(event: Mapping[str, Any]) -> str | None:
    """Why the event's body cannot be a JSON document the API reads, or None."""
    body = event.get("body")
    if not body:
        return None
    text = str(body)
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except binascii.Error:
            return "body: not valid base64"
        except UnicodeDecodeError as error:
            return f"body: not UTF-8 text (invalid byte at offset {error.start})"
    if depth(text) > MAX_DEPTH:
        return f"body: nested deeper than {MAX_DEPTH} levels"
    return None
