"""Typed errors. Step Functions sees the class name as the error name, so these names are
the contract with the Retry/Catch rules the compiler generates (statemachines/saga.py)."""


class InvalidRequest(Exception):
    """The saga's input is wrong; retrying cannot fix it."""


class AgentTransientError(Exception):
    """A fault that a retry may clear (the target or a dependency was briefly unavailable)."""


class AgentPermanentError(Exception):
    """A fault that no retry can fix; the saga rolls back at once."""


class SagaFenced(Exception):
    """The saga was already rolled back: a late (zombie) attempt must not write anything."""
