"""The upgrade guard's bookkeeping: which moto, botocore and werkzeug functions the patches replace or
copy, and the source each patch was written against.

A patch swaps a function with ``replace``, which keeps the original. Each patch module lists, in its
``PATCHED`` table, every such function and every one it copies without replacing, with the sha256 of
its source in the versions below; ``tests/functional/test_upgrade_guard.py`` fails, naming the
function, the patch and what to re-check, when an upgrade changes one of them.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any, NamedTuple

# The versions the hashes were taken from: moto's and boto3's pins in pyproject.toml (botocore moves
# in step with boto3); werkzeug is whichever moto[server] installed.
VERSIONS = {"moto": "5.2.5", "botocore": "1.44.8", "werkzeug": "3.1.9"}


class Pinned(NamedTuple):
    """A function a patch depends on, as it was when the patch was written."""

    sha256: str  # of ``inspect.getsource``
    patch: str  # the ``install_*`` that replaces or copies it
    recheck: str  # what to compare with the new source before recording its hash
    replaced: bool = True  # False: copied (or relied on) where moto calls it, not swapped


# The original of every function ``replace`` swapped, by ``name_of``.
ORIGINALS: dict[str, Any] = {}


def name_of(function: Any) -> str:
    """Where a function is defined: ``module.Class.method`` (a method inherited is its base's)."""
    function = getattr(function, "__func__", function)
    return f"{function.__module__}.{function.__qualname__}"


def replace(owner: Any, attribute: str, replacement: Any) -> Any:
    """``setattr(owner, attribute, replacement)``, keeping the original for the guard; returns it."""
    original = getattr(owner, attribute, None)
    function = getattr(original, "__func__", original)
    if inspect.isfunction(function) and not function.__module__.startswith("stepsaga."):  # not a patch
        ORIGINALS.setdefault(name_of(original), original)
    setattr(owner, attribute, replacement)
    return original


def resolve(name: str) -> Any:
    """The function called ``name`` (``module.Class.method``) as it is now: for one no patch replaced."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = inspect.getattr_static(found, attribute)
        return getattr(found, "__func__", found)
    raise LookupError(name)


def digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
