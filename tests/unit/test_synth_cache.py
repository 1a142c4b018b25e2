"""The embedded stack's synthesis cache is keyed by what the template is made of."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepsaga.embedded import synth


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for relative in (
        "infra/stack.py",
        "stepsaga/embedded/patches/awslambda.py",
        "stepsaga/embedded/synth.py",
        "functions/agent.py",
        "statemachines/s.py",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("# v1\n")
    (tmp_path / "cdk.json").write_text("{}")
    monkeypatch.setattr(synth, "ROOT", tmp_path)
    return tmp_path


def test_the_embedded_stack_own_code_does_not_invalidate_the_cache(tree: Path) -> None:
    before = synth.source_hash({})
    (tree / "stepsaga/embedded/patches/awslambda.py").write_text("# v2\n")
    assert synth.source_hash({}) == before


# synth.py builds the assembly: it counts, although it lives with the embedded stack.
TEMPLATE_SOURCES = [
    "infra/stack.py",
    "stepsaga/embedded/synth.py",
    "functions/agent.py",
    "statemachines/s.py",
    "cdk.json",
]


@pytest.mark.parametrize("changed", TEMPLATE_SOURCES)
def test_what_the_template_is_made_of_does(tree: Path, changed: str) -> None:
    before = synth.source_hash({})
    (tree / changed).write_text('{"v": 2}\n')
    assert synth.source_hash({}) != before


def test_the_context_does(tree: Path) -> None:
    assert synth.source_hash({"a": 1}) != synth.source_hash({"a": 2})
