"""The embedded stack's synthesis cache is keyed by what the template is made of."""

from __future__ import annotations

import os
import subprocess
import threading
import time
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


@pytest.fixture
def cache(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tree / "cdk.out.embedded"
    monkeypatch.setattr(synth, "CACHE", path)
    return path


class FakeSynthesis:
    """``subprocess.run`` for the synthesis: writes the manifest into the staging directory and
    records each run (after ``seconds``, to let other callers arrive meanwhile)."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.seconds = 0.0

    def __call__(self, command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        self.runs.append(command[-2])
        time.sleep(self.seconds)
        (Path(command[-2]) / "manifest.json").write_text("{}")
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture
def synthesis(monkeypatch: pytest.MonkeyPatch) -> FakeSynthesis:
    fake = FakeSynthesis()
    monkeypatch.setattr(synth.subprocess, "run", fake)
    return fake


def _used(path: Path, when: float) -> Path:
    os.utime(path, (when, when))
    return path


def _assembly(cache: Path, name: str, used: float) -> Path:
    path = cache / name
    path.mkdir(parents=True)
    (path / "manifest.json").write_text("{}")
    return _used(path, used)


def _lock(cache: Path, name: str, used: float) -> Path:
    path = cache / name
    path.write_text("")
    return _used(path, used)


def test_processes_needing_the_same_assembly_at_once_synthesize_it_once(
    cache: Path, synthesis: FakeSynthesis
) -> None:
    # pytest-xdist's workers on a fresh clone all want the stack's assembly first thing; each
    # used to run its own synthesis (~7 s of CPU) on the same cores.
    synthesis.seconds = 0.3  # long enough for the other callers to arrive meanwhile
    found: list[Path] = []
    callers = [threading.Thread(target=lambda: found.append(synth.cloud_assembly({}))) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert len(synthesis.runs) == 1
    assert found == [cache / synth.source_hash({})] * 3
    assert (found[0] / "manifest.json").exists()


def test_the_cache_keeps_the_assemblies_used_last_and_any_used_within_the_hour(cache: Path) -> None:
    now = time.time()
    day = 86_400.0
    latest = [_assembly(cache, f"latest{n:02d}", now - 10 - n) for n in range(synth.KEEP)]
    in_use = _assembly(cache, "in-use", now - 600)  # 13th by use, but used 10 minutes ago
    old = [_assembly(cache, f"old{n:02d}", now - day - n) for n in range(3)]
    half_written = cache / "half"  # an assembly whose deletion or writing was cut short
    half_written.mkdir()
    _used(half_written, now - day)
    live_staging = _assembly(cache, "synth-live", now - 5)  # CDK has written its manifest already
    dead_staging = _assembly(cache, "synth-dead", now - day)
    interrupted = _assembly(cache, "discarded-x", now)
    stale_lock = _lock(cache, ".gone.lock", now - day)
    kept_lock = _lock(cache, ".latest00.lock", now - day)

    synth._prune(now)

    kept = {p.name for p in cache.iterdir()}
    assert kept == {*(p.name for p in latest), in_use.name, live_staging.name, kept_lock.name}
    assert not {p.name for p in [*old, half_written, dead_staging, interrupted, stale_lock]} & kept


def test_a_synthesis_prunes_the_cache(cache: Path, synthesis: FakeSynthesis) -> None:
    old = [_assembly(cache, f"old{n:02d}", time.time() - 86_400 - n) for n in range(synth.KEEP + 2)]

    made = synth.cloud_assembly({})

    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(
        [made.name, *(p.name for p in old[: synth.KEEP - 1])]
    )


def test_a_directory_that_is_not_an_assembly_is_replaced_by_one(
    cache: Path, synthesis: FakeSynthesis
) -> None:
    # Left by an interrupted removal or by hand: before, the fresh synthesis lost the rename
    # to it and every later call synthesized again and returned a directory without a template.
    broken = cache / synth.source_hash({})
    (broken / "asset.x").mkdir(parents=True)

    assert (synth.cloud_assembly({}) / "manifest.json").exists()
    assert len(synthesis.runs) == 1


def test_an_assembly_read_from_the_cache_counts_as_used(cache: Path, synthesis: FakeSynthesis) -> None:
    stale = time.time() - 86_400
    hit = _assembly(cache, synth.source_hash({}), stale)

    assert synth.cloud_assembly({}) == hit
    assert hit.stat().st_mtime > stale + 3600
    assert synthesis.runs == []
