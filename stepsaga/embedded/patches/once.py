"""Each patch is installed once per process, by whichever caller asks first (the stack, a test, bench)."""

from __future__ import annotations

import threading

LOCK = threading.RLock()
_installed: set[str] = set()


def once(name: str) -> bool:
    """True for the first caller only: that one installs the patch called ``name``."""
    with LOCK:
        if name in _installed:
            return False
        _installed.add(name)
        return True
