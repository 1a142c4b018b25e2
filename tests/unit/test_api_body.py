"""functions/api/body.py: a body the API cannot read is named before Powertools parses it."""

from __future__ import annotations

import base64

import pytest

from functions.api.body import MAX_DEPTH, depth, problem
from functions.api.claims import digest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ('{"a": 1}', 1),
        ('{"a": [[1], {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),  # brackets in a string do not nest
        ('{"a": "quote \\" then [[["}', 1),  # nor after an escaped quote
        ("[" * 2000 + "]" * 2000, 2000),
    ],
)
def test_depth_counts_nesting_outside_strings(text: str, expected: int) -> None:
    assert depth(text) == expected


def _event(body: bytes | str, encoded: bool = False) -> dict[str, object]:
    if encoded:
        assert isinstance(body, bytes)
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    return {"body": body, "isBase64Encoded": False}


def test_a_readable_body_has_no_problem() -> None:
    assert problem(_event('{"request": {"user_stories": ["é"]}}')) is None
    assert problem(_event('{"reason": "é"}'.encode(), encoded=True)) is None
    assert problem({"body": None}) is None
    assert problem(_event("[" * MAX_DEPTH + "]" * MAX_DEPTH)) is None


def test_a_body_that_is_not_utf8_is_named() -> None:
    assert problem(_event(b'{"reason": "\xff"}', encoded=True)) == (
        "body: not UTF-8 text (invalid byte at offset 12)"
    )
    assert problem({"body": "not base64!", "isBase64Encoded": True}) == "body: not valid base64"


def test_a_body_nested_too_deeply_is_named() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert problem(_event(deep)) == f"body: nested deeper than {MAX_DEPTH} levels"
    assert problem(_event(deep.encode(), encoded=True)) == f"body: nested deeper than {MAX_DEPTH} levels"


def test_the_claim_digest_ignores_key_order_only() -> None:
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1, "b": [1, 2]}) != digest({"a": 1, "b": [2, 1]})
