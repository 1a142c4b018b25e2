"""Count the AWS API calls a saga makes, by service and operation.

Every botocore call in the process is counted (``BaseClient._make_api_call``), except those
made by the threads the caller names (the benchmark's own start and wait calls). The
durable-functions runner answers the SDK's service calls in memory, without botocore, so
its checkpoint and state reads, and the runner's invocations of the function, are counted
where the runner receives them, under the names AWS gives them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The durable runner's in-memory stand-ins for AWS calls: (module, class, method) -> call.
_DURABLE = {
    ("aws_durable_execution_sdk_python_testing.client", "InMemoryServiceClient", "checkpoint"): (
        "lambda",
        "CheckpointDurableExecution",
    ),
    ("aws_durable_execution_sdk_python_testing.client", "InMemoryServiceClient", "get_execution_state"): (
        "lambda",
        "GetDurableExecutionState",
    ),
    ("aws_durable_execution_sdk_python_testing.invoker", "InProcessInvoker", "invoke"): ("lambda", "Invoke"),
}


class CallCounter:
    """``with counter.counting(): ...`` then ``counter.calls``: Counter of (service, operation)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._on = False
        self._ignored: set[int] = set()
        self._lock = threading.Lock()
        self._restore: list[Callable[[], None]] = []

    def install(self) -> None:
        import importlib

        from botocore.client import BaseClient

        counter = self

        def wrap(owner: Any, method: str, name: Callable[[Any, tuple[Any, ...]], tuple[str, str]]) -> None:
            original = getattr(owner, method)

            def counted(this: Any, *args: Any, **kwargs: Any) -> Any:
                call = name(this, args)
                if not counter._count(call):
                    return original(this, *args, **kwargs)
                return counter.observe(call, args, lambda: original(this, *args, **kwargs))

            setattr(owner, method, counted)
            self._restore.append(lambda: setattr(owner, method, original))

        wrap(
            BaseClient,
            "_make_api_call",
            lambda client, args: (client.meta.service_model.service_name, args[0]),
        )
        for (module, cls, method), call in _DURABLE.items():
            try:
                owner = getattr(importlib.import_module(module), cls)
            except ImportError:  # the peer extra is not installed: nothing of it to count
                continue
            wrap(owner, method, _named(call))

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _count(self, call: tuple[str, str]) -> bool:
        if self._on and threading.get_ident() not in self._ignored:
            with self._lock:
                self.calls[call] += 1
            return True
        return False

    def observe(self, call: tuple[str, str], args: tuple[Any, ...], proceed: Callable[[], Any]) -> Any:
        """Make a counted call (``args`` are the wrapped method's); subclasses look at what it moved."""
        return proceed()

    @contextmanager
    def counting(self, ignore_this_thread: bool = True) -> Iterator[Counter[tuple[str, str]]]:
        """Count from a clean slate; the calling thread's own calls are not the saga's."""
        self.calls = Counter()
        self._ignored = {threading.get_ident()} if ignore_this_thread else set()
        self._on = True
        try:
            yield self.calls
        finally:
            self._on = False


def _named(call: tuple[str, str]) -> Callable[[Any, tuple[Any, ...]], tuple[str, str]]:
    return lambda _this, _args: call
