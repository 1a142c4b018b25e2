"""The running ``stepsaga up``, as the other commands find it: its state file.

``up`` writes ``up.json`` (its pid, the AWS endpoint, the API and console URLs) when it is ready and
removes it when it stops. The file lives in ``$STEPSAGA_STATE_DIR`` if set, else
``$XDG_RUNTIME_DIR/stepsaga``, else ``<temp dir>/stepsaga-<uid>``: one per user, not per directory,
because the ports it names are the machine's. A file whose process is gone (``kill -9``) is stale
and ignored. ``stepsaga saga``, ``viewer`` and ``resume`` read it to attach.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "up.json"


@dataclass(frozen=True)
class Running:
    pid: int
    endpoint: str  # the AWS-compatible endpoint (boto3, the AWS CLI)
    api: str  # the saga HTTP API
    console: str  # the local console
    functions_log: str  # where the Lambda functions' JSON logs go ("" when printed)


def state_dir() -> Path:
    if chosen := os.environ.get("STEPSAGA_STATE_DIR"):
        return Path(chosen)
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / "stepsaga"
    return Path(tempfile.gettempdir()) / f"stepsaga-{os.getuid()}"


def state_file() -> Path:
    return state_dir() / STATE_FILE


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, though not ours
        return True
    return True


def write(running: Running) -> Path:
    """Write the state file atomically (a reader never sees half of it)."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_suffix(f".{running.pid}.tmp")
    partial.write_text(json.dumps(asdict(running), indent=1) + "\n")
    partial.replace(path)
    return path


def read() -> Running | None:
    """The running ``up``, None if there is none (no file, an unreadable one, or a stale one)."""
    try:
        found = Running(**json.loads(state_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return found if alive(found.pid) else None


def remove(pid: int) -> None:
    """Remove the state file if it is still ``pid``'s (a later ``up`` may have replaced it)."""
    path = state_file()
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def log_functions(verbose: bool, file_name: str) -> str:
    """Send the functions' Powertools JSON logs to ``file_name`` in the state directory, unless
    ``verbose`` (then they stay on stdout and this answers ""). A terminal full of JSON lines
    hides the banner and the command's own output; the file keeps them for when they matter."""
    if verbose:
        return ""
    from functions.common.observability import logger

    path = state_dir() / file_name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    logger.registered_handler.setStream(path.open("a", buffering=1))  # type: ignore[attr-defined]
    return str(path)
