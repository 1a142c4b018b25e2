"""Names and ARNs of the stack's state machines, from their fixed names.

Every machine is named ``<stack name>-<machine>``, so a role can name a machine (or its
executions) without a reference to it, hence without a dependency cycle.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from constructs import IConstruct


def machine_prefix(scope: IConstruct) -> str:
    """What the stack puts before every machine's name: ``StepSaga-``."""
    return f"{Stack.of(scope).stack_name}-"


def machine_name(scope: IConstruct, name: str) -> str:
    return machine_prefix(scope) + name


def machine_arn(scope: IConstruct, name: str) -> str:
    return _states_arn(scope, "stateMachine", machine_name(scope, name))


def executions_arn(scope: IConstruct, name: str) -> str:
    """Every execution of one of the stack's machines (for IAM)."""
    return _states_arn(scope, "execution", f"{machine_name(scope, name)}:*")


def _states_arn(scope: IConstruct, resource: str, resource_name: str) -> str:
    return Stack.of(scope).format_arn(
        service="states",
        resource=resource,
        resource_name=resource_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
