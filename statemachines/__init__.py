"""Saga declarations, the compiler to ASL, and the generated ``*.asl.json`` files."""

from pathlib import Path

from statemachines.saga import Saga, compile_saga, render
from statemachines.test_generation import SAGAS, TEST_GENERATION

HERE = Path(__file__).parent


def asl_path(saga: Saga) -> Path:
    return HERE / f"{saga.name}.asl.json"


__all__ = ["HERE", "SAGAS", "TEST_GENERATION", "Saga", "asl_path", "compile_saga", "render"]
