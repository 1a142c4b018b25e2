"""Steering sagas from outside: signals (approve, cancel, set priority) and the status query.

Library functions the API and the CLI put HTTP and a terminal on.
"""

from functions.control.signals import (
    PRIORITIES,
    SagaControl,
    SagaFinished,
    SagaNotFound,
    SagaNotWaiting,
    SignalError,
)

__all__ = ["PRIORITIES", "SagaControl", "SagaFinished", "SagaNotFound", "SagaNotWaiting", "SignalError"]
