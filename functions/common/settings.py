"""Function settings, read from the environment CDK sets (names shared in ``infra.names``)."""

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict


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
        return _cached(tuple(os.environ.get(name, "") for name in _ENV))


_ENV = (
    "LEDGER_TABLE",
    "SCENARIOS_TABLE",
    "TESTS_TABLE",
    "RUNS_TABLE",
    "REPORTS_TABLE",
    "IDEMPOTENCY_TABLE",
    "SAGAS_TABLE",
    "ARTIFACTS_BUCKET",
    "DEAD_LETTER_QUEUE_URL",
    "ALLOW_FAULT_INJECTION",
    "ALLOWED_PRIVATE_HOSTS",
)


@lru_cache(maxsize=64)
def _cached(values: tuple[str, ...]) -> Settings:
    env = dict(zip(_ENV, values, strict=True))
    return Settings(
        ledger_table=env["LEDGER_TABLE"],
        scenarios_table=env["SCENARIOS_TABLE"],
        tests_table=env["TESTS_TABLE"],
        runs_table=env["RUNS_TABLE"],
        reports_table=env["REPORTS_TABLE"],
        idempotency_table=env["IDEMPOTENCY_TABLE"],
        sagas_table=env["SAGAS_TABLE"],
        artifacts_bucket=env["ARTIFACTS_BUCKET"],
        dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
        allow_fault_injection=env["ALLOW_FAULT_INJECTION"].lower() == "true",
        allowed_private_hosts=tuple(h for h in env["ALLOWED_PRIVATE_HOSTS"].split(",") if h),
    )
