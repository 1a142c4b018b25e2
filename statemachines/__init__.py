"""Saga declarations, the compiler to ASL, and the generated ``*.asl.json`` files."""

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from statemachines.parent import ParentSaga, compile_parent, compile_rollback, rollback_name
from statemachines.saga import Saga, compile_saga, render
from statemachines.test_generation import (
    MULTI_PROJECT,
    PARALLEL_TEST_GENERATION,
    PARENTS,
    REVIEWED_TEST_GENERATION,
    SAGAS,
    TEST_GENERATION,
)

HERE = Path(__file__).parent


def asl_path(saga: Saga | ParentSaga | str) -> Path:
    name = saga if isinstance(saga, str) else saga.name
    return HERE / f"{name}.asl.json"


def machines() -> dict[str, Callable[[], dict[str, Any]]]:
    """Every state machine the project deploys: name -> its compiled ASL."""
    found: dict[str, Callable[[], dict[str, Any]]] = {}
    for saga in SAGAS.values():
        found[saga.name] = partial(compile_saga, saga)
    for parent in PARENTS.values():
        found[rollback_name(parent.child)] = partial(compile_rollback, parent.child)
        found[parent.name] = partial(compile_parent, parent)
    return found


__all__ = [
    "HERE",
    "MULTI_PROJECT",
    "PARALLEL_TEST_GENERATION",
    "PARENTS",
    "REVIEWED_TEST_GENERATION",
    "SAGAS",
    "TEST_GENERATION",
    "ParentSaga",
    "Saga",
    "asl_path",
    "compile_saga",
    "machines",
    "render",
]
