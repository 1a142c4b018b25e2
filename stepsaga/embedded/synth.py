"""Synthesize the CDK app once per change of its sources, not once per run or test.

The cloud assembly is cached under ``cdk.out.embedded/<hash>``, keyed by the content of
``infra/``, ``functions/``, ``statemachines/``, this module, ``cdk.json`` and the context. Synthesis runs in
a subprocess so the jsii Node.js kernel does not linger in the caller. After each synthesis the
cache keeps the ``KEEP`` assemblies used last (and any used within the hour), so editing the
sources does not grow it without end.

    python -m stepsaga.embedded.synth OUTDIR CONTEXT_JSON
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "cdk.out.embedded"
SOURCES = ("infra", "functions", "statemachines")
SELF = Path(__file__).resolve().relative_to(ROOT)  # this module builds the assembly: it counts
# Assemblies kept: the last few sources, for each context the tests and commands use.
KEEP = 12
KEEP_USED_WITHIN = 3600.0
_STAGING = "synth-"  # a synthesis writes here, then renames it to its hash
_DISCARDED = "discarded-"  # a pruned assembly, renamed before it is deleted
_LOCK_SUFFIX = ".lock"


def source_hash(context: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode())
    digest.update((ROOT / "cdk.json").read_bytes())
    for path in [ROOT / SELF, *(p for folder in SOURCES for p in sorted((ROOT / folder).rglob("*")))]:
        if "__pycache__" in path.parts:
            continue
        if path.is_file() and path.suffix in (".py", ".json"):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _lock_of(key: str) -> Path:
    """The file an assembly's synthesis is locked by (hidden, beside the assembly)."""
    return CACHE / f".{key}{_LOCK_SUFFIX}"


@contextlib.contextmanager
def _one_synthesis_at_a_time(key: str) -> Iterator[None]:
    """Processes that need the same assembly at once (pytest-xdist's workers on a fresh clone,
    two ``stepsaga`` commands) wait for one synthesis instead of each running its own: ~7 s
    of CPU each, on the same cores. Without ``fcntl`` (Windows) each synthesizes and the
    rename in ``cloud_assembly`` keeps one."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(_lock_of(key), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cloud_assembly(context: dict[str, Any]) -> Path:
    """The directory of a synthesized cloud assembly for ``context`` (synthesized if needed)."""
    target = CACHE / source_hash(context)
    if (target / "manifest.json").exists():
        try:
            os.utime(target)  # used: the pruning below keeps what was used last
            return target
        except FileNotFoundError:  # pruned by another process just now: synthesize it again
            pass
        except OSError:  # a cache this process may read but not touch (another user's, read-only)
            return target
    CACHE.mkdir(exist_ok=True)
    with _one_synthesis_at_a_time(target.name):
        if not (target / "manifest.json").exists():  # unless another process just made it
            _synthesize_into(target, context)
    _prune()
    return target


def _prune(now: float | None = None) -> None:
    """Remove the assemblies of earlier sources: each holds a copy of the functions (~1.3 MB),
    and every edit to infra/, functions/ or statemachines/ makes one per context. Keeps the
    ``KEEP`` used last, and any used in the last ``KEEP_USED_WITHIN`` seconds (a process may be
    deploying from it); also clears what died half-way (stagings, discarded assemblies, locks)."""
    now = time.time() if now is None else now
    found = []
    for path in CACHE.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another process pruned it meanwhile
            used = path.stat().st_mtime
            if path.name.startswith(_DISCARDED):
                shutil.rmtree(path, ignore_errors=True)  # a removal that was interrupted
            elif path.name.startswith(_STAGING):  # a synthesis at work, or one that died
                if now - used > KEEP_USED_WITHIN:
                    shutil.rmtree(path, ignore_errors=True)
            elif path.name.endswith(_LOCK_SUFFIX):  # of a synthesis that failed, or a pruned assembly
                key = path.name.removeprefix(".").removesuffix(_LOCK_SUFFIX)
                if now - used > KEEP_USED_WITHIN and not (CACHE / key).exists():
                    path.unlink()
            elif path.is_dir():
                found.append((used, path))
    found.sort(reverse=True)
    for _, path in found[KEEP:]:
        with contextlib.suppress(FileNotFoundError):
            # Read again: a process may have taken it since the listing.
            if now - path.stat().st_mtime > KEEP_USED_WITHIN:
                _discard(path)


def _discard(path: Path) -> None:
    """Take an assembly out of the cache in one step (a rename: a process that looks for it
    afterwards synthesizes it again instead of finding it half deleted), then delete it."""
    discarded = path.with_name(f"{_DISCARDED}{uuid.uuid4().hex}")
    path.rename(discarded)
    shutil.rmtree(discarded, ignore_errors=True)


def _synthesize_into(target: Path, context: dict[str, Any]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=CACHE))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "stepsaga.embedded.synth", str(staging), json.dumps(context)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"cdk synth failed:\n{result.stdout}\n{result.stderr}")
    try:
        staging.rename(target)  # atomic: a concurrent synth of the same sources just loses the race
    except OSError:
        if (target / "manifest.json").exists():
            shutil.rmtree(staging, ignore_errors=True)
        else:  # what is there is not an assembly (left half-written by hand or a crash): replace it
            _discard(target)
            staging.rename(target)


def _synth(outdir: str, context: dict[str, Any]) -> None:
    from aws_cdk import App

    import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)
    from infra.app import build

    app = App(outdir=outdir, context=context)
    build(app)
    app.synth()


if __name__ == "__main__":
    _synth(sys.argv[1], json.loads(sys.argv[2]))
