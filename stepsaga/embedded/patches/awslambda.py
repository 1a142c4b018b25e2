"""Lambda in-process: each invoke runs the deployed function's handler in this process, with the
function's own environment, as the Lambda runtime would (moto would need Docker)."""

from __future__ import annotations

import importlib
import json
import logging
import os
import site
import sys
import sysconfig
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once

_log = logging.getLogger("stepsaga.embedded")
_lock = threading.Lock()  # guards INVOCATIONS


# --- per-thread environment -----------------------------------------------------------------------
class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay: each in-process Lambda sees its own variables.

    Reads check the current thread's overlay first; writes outside an overlay go to the real
    environment, so the rest of the process is unaffected.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @contextmanager
    def overlay(self, variables: dict[str, str]) -> Iterator[None]:
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        yield from overlay
        yield from (k for k in self._base if k not in overlay)

    def __len__(self) -> int:
        return len(set(self._base) | set(self._overlay() or {}))

    def copy(self) -> dict[str, str]:
        return dict(self)

    # os._Environ API some libraries use
    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def install_thread_environ() -> ThreadEnviron:
    if once("environ"):
        os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - the point
    return os.environ  # type: ignore[return-value]


# --- in-process Lambda ----------------------------------------------------------------------------
class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools use."""

    def __init__(
        self, name: str, arn: str, memory_mb: int, timeout: float, log_stream: str = "embedded"
    ) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = log_stream
        self._deadline = time.monotonic() + timeout

    @classmethod
    def of(cls, function: Any) -> LambdaContext:
        """The context of one invoke of a function deployed in moto."""
        return cls(
            function.function_name, function.function_arn, int(function.memory_size), float(function.timeout)
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_handlers: dict[str, Callable[[Any, Any], Any]] = {}
# Variables every in-process Lambda sees on top of its own (set by EmbeddedStack).
RUNTIME_ENV: dict[str, str] = {}
# Invocations so far, by function name (tests assert on them; cheap enough to keep).
INVOCATIONS: dict[str, int] = {}


def resolve_handler(path: str) -> Callable[[Any, Any], Any]:
    """``functions.handlers.requirements.handler`` -> the function object (imported once)."""
    found = _handlers.get(path)
    if found is None:
        module, _, attribute = path.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        _handlers[path] = found
    return found


def call_in_process(function: Any, event: Any) -> tuple[Any, bool]:
    """Run a deployed function's handler with its own environment; (result, errored)."""
    environ = install_thread_environ()
    variables = {
        **function.environment_vars,
        **RUNTIME_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
    }
    with _lock:
        INVOCATIONS[function.function_name] = INVOCATIONS.get(function.function_name, 0) + 1
    context = LambdaContext.of(function)
    with environ.overlay(variables):
        try:
            return resolve_handler(function.handler)(event, context), False
        except Exception as error:  # the Lambda runtime's contract: report, don't raise
            return runtime_error(error, context.aws_request_id, function.handler), True


def runtime_error(error: BaseException, request_id: str, handler: str) -> dict[str, Any]:
    """An unhandled error as the Python runtime reports it: the handler's frames on (none of this
    module's), with the paths the function's code has on Lambda."""
    frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is call_in_process
    for frame in frames:
        frame.filename = _lambda_path(frame.filename, handler)
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _lambda_path(filename: str, handler: str) -> str:
    """Where a source file is on Lambda: the function's code (and the dependencies bundled with it)
    under /var/task, the standard library under /var/lang."""
    path = Path(filename)
    package = sys.modules.get(handler.split(".")[0])
    roots = [Path(p).parent for p in getattr(package, "__path__", [])]  # the code root holds the package
    roots += [Path(p) for p in site.getsitepackages()]
    for root in roots:
        if path.is_relative_to(root):
            return f"/var/task/{path.relative_to(root).as_posix()}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if path.is_relative_to(stdlib):
        return f"/var/lang/lib/{stdlib.name}/{path.relative_to(stdlib).as_posix()}"
    return filename


def _call_async(function: Any, event: Any) -> None:
    result, errored = call_in_process(function, event)
    if errored:  # nobody waits for an async result: log it, as CloudWatch Logs would show it
        _log.error("async invoke of %s failed: %s", function.function_name, json.dumps(result))


def install_inprocess_invoke() -> None:
    """Invoke runs the handler here, synchronously or (``Event``) on a thread of its own."""
    if not once("lambda"):
        return
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = self.get_function(function_name, qualifier)
        event = json.loads(body) if body else {}
        if (headers.get("X-Amz-Invocation-Type") or "RequestResponse") == "Event":
            # Asynchronous invoke: accepted at once, the handler runs on its own thread.
            thread = threading.Thread(target=_call_async, args=(function, event), daemon=True)
            thread.start()
            return b""
        result, errored = call_in_process(function, event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        if isinstance(result, bytes):  # the runtime passes bytes through as the response
            return result
        return json.dumps(result).encode()

    replace(LambdaSimpleBackend, "invoke", invoke)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.awslambda_simple.models.LambdaSimpleBackend.invoke": Pinned(
        "1b029265c71d5ae06e1359dfa5b1f29beac2654e7dc64bf5bb1f6de9b06f9172",
        "install_inprocess_invoke",
        "the invoke signature and how moto reads the invocation type and answers a function error",
    ),
}
