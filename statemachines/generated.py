"""Generated files kept in the repository: written from the code, or checked against it.

Every generated file has its source here: the ASL of each machine in the catalogue
(``statemachines/asl/``) and the diagrams of the sagas shown in the docs (``docs/diagrams/``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from statemachines.catalogue import ASL_DIR, TEST_GENERATION, machines
from statemachines.saga import Saga
from statemachines.tools import diagram

REGENERATE = "python -m statemachines"
DIAGRAM_DIR = Path(__file__).resolve().parent.parent / "docs" / "diagrams"
# The sagas whose diagrams are committed (the README shows them).
DIAGRAMS: tuple[Saga, ...] = (TEST_GENERATION,)


def asl_files(directory: Path = ASL_DIR) -> dict[Path, str]:
    """Each machine's ASL file and what it should contain."""
    return {
        directory / f"{name}.asl.json": json.dumps(compile_machine(), indent=2) + "\n"
        for name, compile_machine in machines().items()
    }


def diagram_files(directory: Path = DIAGRAM_DIR) -> dict[Path, str]:
    """Each committed diagram file and what it should contain."""
    found: dict[Path, str] = {}
    for saga in DIAGRAMS:
        found[directory / f"{saga.name}.mmd"] = diagram.mermaid(saga)
        found[directory / f"{saga.name}.svg"] = diagram.svg(saga)
    return found


def write_or_check(files: Mapping[Path, str], *, check: bool, regenerate: str = REGENERATE) -> int:
    """Write each file whose text differs, or with ``check`` only name them; 1 if any is stale.

    ``regenerate`` is the command that rewrites them, for the message a stale check prints.
    """
    stale = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        if check:
            stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `{regenerate}`", file=sys.stderr)
        return 1
    return 0
