"""ARNs derived from other ARNs."""

from __future__ import annotations


def execution_arn(machine_arn: str, name: str) -> str:
    """Execution ``name`` of a state machine: ``...:stateMachine:M`` -> ``...:execution:M:name``."""
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
