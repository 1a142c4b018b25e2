"""statemachines/__main__.py: ``python -m statemachines [--check]``."""

from __future__ import annotations

from pathlib import Path

import pytest

import statemachines.__main__ as cli
from statemachines import TEST_GENERATION, render

pytestmark = pytest.mark.unit


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at a scratch file instead of the committed ASL."""
    path = tmp_path / "test-generation.asl.json"
    monkeypatch.setattr(cli, "asl_path", lambda saga: tmp_path / f"{saga.name}.asl.json")
    return path


def test_check_passes_on_the_committed_files() -> None:
    assert cli.main(["--check"]) == 0


def test_check_fails_on_a_stale_file_and_does_not_rewrite_it(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target.write_text("{}\n")
    assert cli.main(["--check"]) == 1
    assert target.read_text() == "{}\n"
    assert "stale: test-generation.asl.json" in capsys.readouterr().err


def test_check_fails_on_a_missing_file_and_does_not_create_it(target: Path) -> None:
    assert cli.main(["--check"]) == 1
    assert not target.exists()


def test_check_passes_on_a_fresh_file(target: Path) -> None:
    target.write_text(render(TEST_GENERATION))
    assert cli.main(["--check"]) == 0


def test_without_check_the_stale_file_is_rewritten(target: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target.write_text("{}\n")
    assert cli.main([]) == 0
    assert target.read_text() == render(TEST_GENERATION)
    assert "wrote" in capsys.readouterr().out
    # A second run finds nothing to do.
    assert cli.main([]) == 0
    assert capsys.readouterr().out == ""
