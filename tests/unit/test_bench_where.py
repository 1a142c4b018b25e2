"""bench/where.py charges each sampled stack to its innermost layer (no sampling here)."""

from __future__ import annotations

import pytest

from bench.where import layer_of, report, tally

pytestmark = pytest.mark.unit

HANDLER = "handler (functions/handlers/execution.py:59)"
CLIENT = "BaseClient._make_api_call (botocore/client.py:1076)"
STUBBER = "BotocoreStubber.__call__ (moto/core/botocore_stubber.py:40)"
BACKEND = "DynamoDBBackend.update_item (moto/dynamodb/models/__init__.py:531)"
VALIDATE = "Validator.validate (moto/dynamodb/parsing/validators.py:567)"
LEAF = "JSONDecoder.raw_decode (json/decoder.py:353)"


def test_a_sample_is_charged_to_the_innermost_layer_on_its_stack() -> None:
    assert layer_of([HANDLER, LEAF]) == "handlers and domain code"
    assert layer_of([HANDLER, CLIENT, LEAF]) == "botocore: client side"
    assert layer_of([HANDLER, CLIENT, STUBBER, LEAF]) == "moto: request handling"
    assert layer_of([HANDLER, CLIENT, STUBBER, BACKEND, VALIDATE, LEAF]) == "moto: DynamoDB update validation"
    assert layer_of(["Thread.run (threading.py:982)", LEAF]) == "other: JSONDecoder.raw_decode"


def test_imports_and_the_deploy_are_left_out_and_shares_add_up() -> None:
    lines = [
        f"{HANDLER};{CLIENT};{LEAF} 30",
        f"{HANDLER};{LEAF} 10",
        f"_find_and_load (<frozen importlib._bootstrap>:1176);{LEAF} 500",
        f"EmbeddedStack.__enter__ (stepsaga/embedded/stack.py:109);{CLIENT} 400",
        "not a sample",
    ]
    layers, leaves, total = tally(lines)
    assert total == 40 and layers == {"botocore: client side": 30, "handlers and domain code": 10}
    assert leaves == {LEAF: 40}
    table = report(layers, leaves, total, top=5)
    assert "| botocore: client side | 75.0 % |" in table and "| handlers and domain code | 25.0 % |" in table
