"""Function settings, read from the environment CDK sets (names in ``functions.common.names``)."""

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from functions.common.names import (
    ENV_ALLOW_FAULT_INJECTION,
    ENV_ALLOWED_PRIVATE_HOSTS,
    ENV_ARTIFACTS_BUCKET,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_TABLE,
)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    ledger_table: str = ""
    scenarios_table: str = ""
    tests_table: str = ""
    runs_table: str = ""
    reports_table: str = ""
    idempotency_table: str = ""
    sagas_table: str = ""
    artifacts_bucket: str = ""
    dead_letter_queue_url: str = ""
    allow_fault_injection: bool = False
    # Hosts Execution may reach even though they resolve to private or loopback addresses.
    allowed_private_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "Settings":
        return _cached(tuple(os.environ.get(name, "") for name in _ENV.values()))


# Field -> the variable it is read from: ``<kind>_table`` for every table of ``ENV_TABLE``.
_ENV = {
    **{f"{kind}_table": variable for kind, variable in ENV_TABLE.items()},
    "artifacts_bucket": ENV_ARTIFACTS_BUCKET,
    "dead_letter_queue_url": ENV_DEAD_LETTER_QUEUE_URL,
    "allow_fault_injection": ENV_ALLOW_FAULT_INJECTION,
    "allowed_private_hosts": ENV_ALLOWED_PRIVATE_HOSTS,
}


@lru_cache(maxsize=64)
def _cached(values: tuple[str, ...]) -> Settings:
    fields: dict[str, object] = dict(zip(_ENV, values, strict=True))
    fields["allow_fault_injection"] = str(fields["allow_fault_injection"]).lower() == "true"
    fields["allowed_private_hosts"] = tuple(h for h in str(fields["allowed_private_hosts"]).split(",") if h)
    return Settings.model_validate(fields)
