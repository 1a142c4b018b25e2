"""Generated files kept in the repository: written from the code, or checked against it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def write_or_check(files: Mapping[Path, str], *, check: bool, regenerate: str) -> int:
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
