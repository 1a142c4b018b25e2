"""Handler cold start (issue 7): boto3 is imported on first use, not with a handler module.

Each handler module is imported in a fresh interpreter with the environment Lambda gives it
(``bench.coldstart.lambda_env``), as ``python -m bench.coldstart`` measures it; this process
has long imported boto3 (moto, the CDK), so only a subprocess can tell.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from bench import coldstart
from functions.common import store
from functions.common.step import Step
from functions.handlers import base

pytestmark = pytest.mark.unit

# Loaded on first use only: boto3 and what ``import boto3`` pulls in, the client machinery, and
# Powertools' idempotency utility (which imports boto3). ``botocore.exceptions`` is allowed: it
# is ~2.5 ms once Powertools has loaded ``logging`` (``except ClientError`` needs the class).
DEFERRED = (
    "boto3",
    "s3transfer",
    "urllib3",
    "botocore.session",
    "botocore.client",
    "botocore.config",
    "aws_lambda_powertools.utilities.idempotency",
)

_IMPORT_THEN_LIST = (
    "import json, sys, functions.handlers.{name}\n"
    "deferred = {deferred!r}\n"
    "print(json.dumps(sorted(m for m in sys.modules for d in deferred if m == d or m.startswith(d + '.'))))\n"
)


def _python(code: str, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=coldstart.ROOT,
        env=coldstart.lambda_env(name, tracing=True),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", coldstart.handlers())
def test_importing_a_handler_loads_no_boto3(name: str) -> None:
    loaded = json.loads(_python(_IMPORT_THEN_LIST.format(name=name, deferred=DEFERRED), name))
    assert loaded == [], f"functions.handlers.{name} imports {loaded[:5]} at module level"


def test_the_first_client_and_store_use_import_boto3_then() -> None:
    code = (
        "import json, sys, functions.handlers.requirements\n"
        "from functions.common import aws, store\n"
        "before = 'boto3' in sys.modules\n"
        "ddb = aws.client('dynamodb')\n"
        "config = ddb.meta.config\n"
        "item = store.to_item({'saga_id': 's', 'n': 1.5, 'tags': ['a'], 'gone': None})\n"
        "print(json.dumps({'before': before, 'after': 'boto3' in sys.modules,\n"
        "    'region': ddb.meta.region_name, 'same': aws.client('dynamodb') is ddb,\n"
        "    'retries': config.retries, 'item': item, 'back': store.from_item(item)}))\n"
    )
    found = json.loads(_python(code, "requirements"))
    assert found["before"] is False and found["after"] is True
    assert found["region"] == "us-east-1" and found["same"] is True
    assert found["retries"] == {"mode": "standard", "total_max_attempts": 4}  # max_attempts=3 retries
    assert found["item"] == {"saga_id": {"S": "s"}, "n": {"N": "1.5"}, "tags": {"L": [{"S": "a"}]}}
    assert found["back"] == {"saga_id": "s", "n": 1.5, "tags": ["a"]}


# -- the store's (de)serialization is boto3's, whenever it is first used ----------------------

DOCUMENT: dict[str, Any] = {
    "s": "text",
    "n": 3,
    "f": 0.1,
    "big": 12345678901234567890,
    "t": True,
    "none_inside": [None, {"x": None}],
    "m": {"nested": {"list": [1, "two", 3.5, False]}},
    "empty": {"l": [], "m": {}},
}


def test_to_item_is_boto3s_serializer_over_decimals() -> None:
    plain = json.loads(json.dumps(DOCUMENT), parse_float=Decimal)
    expected = {k: TypeSerializer().serialize(v) for k, v in plain.items()}
    assert store.to_item({**DOCUMENT, "dropped": None}) == expected
    assert expected["f"] == {"N": "0.1"} and expected["big"] == {"N": "12345678901234567890"}
    assert store.from_item(expected) == DOCUMENT


ATTRIBUTES: list[tuple[dict[str, Any], Any]] = [
    ({"S": "a"}, "a"),
    ({"N": "5"}, 5),
    ({"N": "5.00"}, 5),
    ({"N": "2.5"}, 2.5),
    ({"B": b"\x00\x01"}, Binary(b"\x00\x01")),
    ({"BOOL": False}, False),
    ({"NULL": True}, None),
    ({"M": {"k": {"N": "1"}}}, {"k": 1}),
    ({"L": [{"S": "x"}, {"N": "1.5"}]}, ["x", 1.5]),
    ({"SS": ["b", "a"]}, ["a", "b"]),
    ({"NS": ["3", "1.5"]}, [1.5, 3]),
]


@pytest.mark.parametrize(("attribute", "value"), ATTRIBUTES)
def test_from_item_reads_every_attribute_type(attribute: dict[str, Any], value: Any) -> None:
    assert store.from_item({"v": attribute}) == {"v": value}


@pytest.mark.parametrize("attribute", [a for a, _ in ATTRIBUTES] + [{"BS": [b"b", b"a"]}])
def test_the_lazy_codec_is_boto3s(attribute: dict[str, Any]) -> None:
    serializer, deserializer = store._codec()
    value = TypeDeserializer().deserialize(attribute)
    assert deserializer.deserialize(attribute) == value
    assert serializer.serialize(value) == TypeSerializer().serialize(value)


# -- the idempotency utility, imported inside once_per_state, still makes duplicates no-ops ----


def _memory_persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyItemAlreadyExistsError,
        IdempotencyItemNotFoundError,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class Memory(BasePersistenceLayer):
        def __init__(self) -> None:
            super().__init__()
            self.records: dict[str, DataRecord] = {}

        def _get_record(self, idempotency_key: str) -> DataRecord:
            if idempotency_key not in self.records:
                raise IdempotencyItemNotFoundError
            return self.records[idempotency_key]

        def _put_record(self, data_record: DataRecord) -> None:
            if data_record.idempotency_key in self.records:
                raise IdempotencyItemAlreadyExistsError(
                    old_data_record=self.records[data_record.idempotency_key]
                )
            self.records[data_record.idempotency_key] = data_record

        def _update_record(self, data_record: DataRecord) -> None:
            self.records[data_record.idempotency_key] = data_record

        def _delete_record(self, data_record: DataRecord) -> None:
            self.records.pop(data_record.idempotency_key, None)

    return Memory()


def test_once_per_state_runs_the_work_once_per_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    persistence = _memory_persistence()
    monkeypatch.setattr(base, "_persistence", lambda table: persistence)
    request = {"project": "demo", "target_url": "https://example.com", "user_stories": ["I open /"]}
    context = {"saga_id": "saga-1", "execution_arn": "arn:x", "state": "Execution", "attempt": 1}
    lambda_context = SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000)
    calls: list[int] = []

    def work() -> dict[str, Any]:
        calls.append(1)
        return {"run": len(calls)}

    first = base.once_per_state(
        Step({"saga": {"request": request}, "context": context}), lambda_context, work
    )
    duplicate = base.once_per_state(
        Step({"saga": {"request": request}, "context": context}), lambda_context, work
    )
    retry = {**context, "attempt": 2}
    again = base.once_per_state(Step({"saga": {"request": request}, "context": retry}), lambda_context, work)
    assert (first, duplicate, again) == ({"run": 1}, {"run": 1}, {"run": 2})
    assert len(calls) == 2
