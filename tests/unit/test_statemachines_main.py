"""statemachines/__main__.py: ``python -m statemachines [--check]``, on the ASL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import statemachines.__main__ as cli
from statemachines.catalogue import TEST_GENERATION, machines
from statemachines.saga import render

pytestmark = pytest.mark.unit


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at scratch folders instead of the committed ASL and diagrams."""
    real = cli.main
    diagrams = tmp_path / "diagrams"
    real([], asl_dir=tmp_path / "unused", diagram_dir=diagrams)  # the diagrams are not under test here
    monkeypatch.setattr(cli, "main", lambda argv: real(argv, asl_dir=tmp_path, diagram_dir=diagrams))
    return tmp_path / "test-generation.asl.json"


def test_check_passes_on_the_committed_files() -> None:
    assert cli.main(["--check"]) == 0


def test_check_fails_on_a_stale_file_and_does_not_rewrite_it(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target.write_text("{}\n")
    assert cli.main(["--check"]) == 1
    assert target.read_text() == "{}\n"
    assert "test-generation.asl.json" in capsys.readouterr().err


def test_check_fails_on_a_missing_file_and_does_not_create_it(target: Path) -> None:
    assert cli.main(["--check"]) == 1
    assert not target.exists()


def test_check_passes_on_fresh_files(target: Path) -> None:
    for name, compile_machine in machines().items():
        (target.parent / f"{name}.asl.json").write_text(json.dumps(compile_machine(), indent=2) + "\n")
    assert cli.main(["--check"]) == 0


def test_without_check_the_stale_file_is_rewritten(target: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target.write_text("{}\n")
    assert cli.main([]) == 0
    assert target.read_text() == render(TEST_GENERATION)
    assert "wrote" in capsys.readouterr().out
    # A second run finds nothing to do.
    assert cli.main([]) == 0
    assert capsys.readouterr().out == ""
