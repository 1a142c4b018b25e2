"""The speed patches change no answer: the same calls, with ``SPEED`` on and off, agree."""

from __future__ import annotations

import copy
import datetime
import importlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from stepsaga.embedded import patches
from stepsaga.embedded.patches import botocore as botocore_patches
from stepsaga.embedded.patches import dynamodb, moto_core, speed, stepfunctions, stepfunctions_api
from stepsaga.embedded.patches.botocore import FIXED_SIGNATURE
from stepsaga.embedded.patches.speed import SPEED

REGION = "us-east-1"


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    patches.install()
    with mock_aws():
        yield
    SPEED.enabled = SPEED.default


def both_ways(calls: Callable[[Any, str], list[Any]]) -> tuple[list[Any], list[Any]]:
    """Run ``calls(ddb, table)`` on a fresh table with SPEED on, then off; both transcripts."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    transcripts = []
    for enabled in (True, False):
        SPEED.enabled = enabled
        table = f"speed-{enabled}-{uuid.uuid4().hex[:8]}"  # the session's mock may hold others
        ddb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        transcripts.append(scrub(calls(ddb, table), table))
    SPEED.enabled = SPEED.default
    return transcripts[0], transcripts[1]


def scrub(value: Any, table: str) -> Any:
    """The transcript with the table's name replaced, so that the two runs compare."""
    if isinstance(value, str):
        return value.replace(table, "<table>")
    if isinstance(value, dict):
        return {k: scrub(v, table) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, table) for v in value)
    return value


def outcome(call: Callable[[], Any]) -> Any:
    """A call's answer without its metadata, or its error code and message."""
    try:
        answer = call()
    except ClientError as error:
        return ("error", error.response["Error"]["Code"], error.response["Error"]["Message"])
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def test_conditions_and_updates_answer_the_same_as_stock_moto(mocked: None) -> None:
    fence = "attribute_not_exists(#s) OR #s = :active"

    def calls(ddb: Any, table: str) -> list[Any]:
        def update(sk: str, ids: list[str], active: str = "active", **extra: Any) -> Any:
            return outcome(
                lambda: ddb.update_item(
                    TableName=table,
                    Key=key(sk),
                    UpdateExpression="SET #s = :active, #u = :now ADD #k :ids",
                    ConditionExpression=fence,
                    ExpressionAttributeNames={"#s": "status", "#u": "updated_at", "#k": "created", **extra},
                    ExpressionAttributeValues={
                        ":active": {"S": active},
                        ":now": {"N": str(len(ids))},
                        ":ids": {"SS": ids},
                    },
                    ReturnValues="ALL_NEW",
                )
            )

        return [
            update("a", ["t1"]),
            update("a", ["t2", "t3"]),  # same expression, other values: the set grows
            update("a", ["t4"], active="other"),  # the fence's value differs: refused
            update("b", ["t1"], active="other"),  # a new item: no status yet, so allowed
            update("a", ["t5"], **{"#unused": "x"}),  # moto's unused-name check still runs
            outcome(
                lambda: ddb.put_item(
                    TableName=table,
                    Item={**key("c"), "n": {"N": "1"}},
                    ConditionExpression="attribute_not_exists(pk) AND attribute_not_exists(sk)",
                )
            ),
            outcome(
                lambda: ddb.put_item(
                    TableName=table,
                    Item={**key("c"), "n": {"N": "2"}},
                    ConditionExpression="attribute_not_exists(pk) AND attribute_not_exists(sk)",
                )
            ),
            outcome(
                lambda: ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": key("a"),
                                "UpdateExpression": "SET #s = :done ADD #k :ids",
                                "ConditionExpression": "#s IN (:active, :compensating)",
                                "ExpressionAttributeNames": {"#s": "status", "#k": "created"},
                                "ExpressionAttributeValues": {
                                    ":done": {"S": "done"},
                                    ":active": {"S": "active"},
                                    ":compensating": {"S": "compensating"},
                                    ":ids": {"SS": ["t9"]},
                                },
                            }
                        },
                        {"Put": {"TableName": table, "Item": {**key("d"), "v": {"S": "x"}}}},
                    ]
                )
            ),
            outcome(  # projected and filtered: the stored items must keep every attribute
                lambda: ddb.query(
                    TableName=table,
                    KeyConditionExpression="pk = :p",
                    FilterExpression="attribute_exists(#s)",
                    ProjectionExpression="sk, #s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":p": {"S": "p"}},
                )
            ),
            outcome(
                lambda: ddb.query(
                    TableName=table,
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p"}},
                    ConsistentRead=True,
                )
            ),
        ]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert fast[2][1] == "ConditionalCheckFailedException"
    assert fast[4][0] == "error" and "unused" in fast[4][2].lower()
    assert [sorted(i) for i in fast[-2]["Items"]] == [["sk", "status"]] * 2
    items = {i["sk"]["S"]: i for i in fast[-1]["Items"]}
    assert items["a"]["created"]["SS"] and set(items["a"]["created"]["SS"]) == {"t1", "t2", "t3", "t9"}
    assert items["a"]["status"] == {"S": "done"}
    assert items["c"]["n"] == {"N": "1"}


def test_a_signature_is_skipped_only_for_requests_moto_answers(
    mocked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def signed() -> str:
        request = AWSRequest(method="POST", url="https://dynamodb.us-east-1.amazonaws.com/", data=b"{}")
        SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "dynamodb", REGION).add_auth(request)
        return str(request.headers["Authorization"])

    SPEED.enabled = True
    inside = signed()
    assert inside.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")  # moto reads the account here
    assert inside.endswith(f"Signature={FIXED_SIGNATURE}")
    with monkeypatch.context() as patched:  # as for a request to LocalStack or AWS
        patched.setattr(speed, "answered_in_process", lambda: False)
        outside = signed()
    assert not outside.endswith(f"Signature={FIXED_SIGNATURE}")
    assert inside.split(",")[0] == outside.split(",")[0]  # the same credential scope
    SPEED.enabled = False
    assert not signed().endswith(f"Signature={FIXED_SIGNATURE}")


def test_an_assumed_role_still_reaches_its_own_account(mocked: None) -> None:
    """moto maps an access key to its account from the credential scope, which is kept."""
    sts = boto3.client("sts", region_name=REGION)
    other = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/elsewhere", RoleSessionName="speed")
    credentials = other["Credentials"]
    remote = boto3.client(
        "sqs",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    name = f"in-the-other-account-{uuid.uuid4().hex[:8]}"
    url = remote.create_queue(QueueName=name)["QueueUrl"]
    assert "111111111111" in url
    here = boto3.client("sqs", region_name=REGION).list_queues(QueueNamePrefix=name)
    assert here.get("QueueUrls", []) == []


def test_dynamodb_answers_are_the_same_with_and_without_the_direct_json_path(mocked: None) -> None:
    item = {
        **key("1"),
        "n": {"N": "1.5"},
        "b": {"B": b"\x00\x01"},
        "l": {"L": [{"S": "x"}, {"M": {"k": {"BOOL": True}}}]},
        "ss": {"SS": ["a", "b"]},
        "null": {"NULL": True},
    }

    def calls(ddb: Any, table: str) -> list[Any]:
        ddb.put_item(TableName=table, Item=item)
        query = ddb.query(
            TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
        )
        got = ddb.get_item(TableName=table, Key=key("1"))
        described = ddb.describe_table(TableName=table)["Table"]  # has a date: moto shapes it
        return [query["Items"], query["Count"], got["Item"], described["TableStatus"]]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert fast[2] == item


@pytest.mark.parametrize(
    ("url", "headers", "body"),
    [
        (
            "https://dynamodb.us-east-1.amazonaws.com/",
            {
                "X-Amz-Target": b"DynamoDB_20120810.GetItem",
                "Content-Type": b"application/x-amz-json-1.0",
                "Authorization": b"AWS4-HMAC-SHA256 Credential=x/20261129/us-east-1/dynamodb/aws4_request",
                "Content-Length": "2",
            },
            b"{}",
        ),
        ("http://127.0.0.1:4566/", {"X-Amz-Target": "AWSStepFunctions.StartExecution"}, '{"a": "\u00e9"}'),
        ("https://states.us-east-1.amazonaws.com/", {"Content-Type": "application/x-amz-json-1.0"}, None),
    ],
)
def test_a_json_request_gets_the_environ_werkzeug_would_build(
    mocked: None, url: str, headers: dict, body: Any
) -> None:
    from moto.core.request import Request

    def built(enabled: bool) -> tuple[dict[str, Any], Any]:
        SPEED.enabled = enabled
        try:
            request = Request.from_primitives("POST", url, headers, body)
        finally:
            SPEED.enabled = SPEED.default
        environ = {k: v for k, v in request.environ.items() if k not in ("wsgi.input", "werkzeug.request")}
        return environ, (
            request.data,
            dict(request.headers),
            request.url,
            request.raw_url,
            dict(request.form),
        )

    assert built(True) == built(False)


def test_the_item_size_limit_holds_as_in_stock_moto(mocked: None) -> None:
    def calls(ddb: Any, table: str) -> list[Any]:
        def put(sk: str, kilobytes: float) -> Any:
            filler = {f"a{i}": {"S": "x" * 1000} for i in range(int(kilobytes))}
            return outcome(lambda: ddb.put_item(TableName=table, Item={**key(sk), **filler}))

        return [
            put("small", 3),
            put("under", 400),
            put("over", 410),
            outcome(lambda: ddb.scan(TableName=table)),
        ]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert fast[2][0] == "error" and fast[2][1] == "ValidationException"
    assert sorted(i["sk"]["S"] for i in fast[3]["Items"]) == ["small", "under"]


def test_a_url_moto_does_not_route_is_answered_as_stock_moto_answers_it(mocked: None) -> None:
    from botocore.awsrequest import AWSPreparedRequest
    from moto.core.models import botocore_stubber

    def answer(url: str) -> Any:
        request = AWSPreparedRequest("GET", url, {}, b"", stream_output=False)
        return botocore_stubber.process_request(request)

    for url in ("https://nothing-here.us-east-1.amazonaws.com/x", "https://example.com/"):  # twice: cached
        SPEED.enabled = True
        fast = answer(url)
        SPEED.enabled = False
        assert fast == answer(url)
    SPEED.enabled = True
    assert answer("https://nothing-here.us-east-1.amazonaws.com/x")[0] == 404


def test_only_successful_answers_skip_the_retry_checks(mocked: None) -> None:
    from botocore.awsrequest import AWSResponse
    from botocore.retries.standard import RetryContext, RetryPolicy, StandardRetryConditions
    from botocore.session import get_session

    operation = get_session().get_service_model("dynamodb").operation_model("GetItem")
    policy = RetryPolicy(StandardRetryConditions(), None)

    def should_retry(status: int, code: str | None, checksum: str) -> bool:
        response = AWSResponse(
            "https://dynamodb.us-east-1.amazonaws.com/", status, {"x-amz-crc32": checksum}, None
        )
        response._content = b"{}"
        parsed = {"Error": {"Code": code}} if code else {}
        context = RetryContext(1, operation_model=operation, parsed_response=parsed, http_response=response)
        return bool(policy.should_retry(context))

    crc_of_empty_object = "2745614147"  # crc32(b"{}")
    SPEED.enabled = True
    assert not should_retry(200, None, crc_of_empty_object)
    assert not should_retry(200, None, "1")  # not even checked (moto's CRC is always right)
    assert should_retry(500, "InternalServerError", crc_of_empty_object)  # still checked
    assert should_retry(400, "ThrottlingException", crc_of_empty_object)
    SPEED.enabled = False
    assert should_retry(200, None, "1")  # stock: a CRC mismatch is retried (never the case with moto)


def test_a_presigned_url_keeps_its_real_signature(mocked: None) -> None:
    import requests
    from botocore.config import Config

    s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
    bucket = f"presign-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    SPEED.enabled = True
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert "X-Amz-Signature=" in url and FIXED_SIGNATURE not in url
    answer = requests.get(url, timeout=10)
    assert (answer.status_code, answer.content) == (200, b"body")


def test_an_update_with_repeated_clauses_is_refused_as_stock_moto_refuses_it(mocked: None) -> None:
    def calls(ddb: Any, table: str) -> list[Any]:
        return [
            outcome(
                lambda: ddb.update_item(
                    TableName=table,
                    Key=key("a"),
                    UpdateExpression="ADD x :one ADD y :one SET a = :v SET b = :v",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":v": {"S": "v"}},
                )
            )
        ]

    fast, stock = both_ways(calls)
    assert fast == stock and fast[0][0] == "error"


def test_an_update_that_passed_is_checked_again_under_other_names(mocked: None) -> None:
    """The structural checks' verdict is kept per expression tree and names: the same text
    whose names now name one attribute twice is refused, as stock moto refuses it."""

    def calls(ddb: Any, table: str) -> list[Any]:
        def update(names: dict[str, str]) -> Any:
            return outcome(
                lambda: ddb.update_item(
                    TableName=table,
                    Key=key("a"),
                    UpdateExpression="SET #a = :v, #b = :w ADD #c :one",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":v": {"S": "v"}, ":w": {"S": "w"}, ":one": {"N": "1"}},
                    ReturnValues="ALL_NEW",
                )
            )

        return [
            update({"#a": "x", "#b": "y", "#c": "n"}),
            update({"#a": "x", "#b": "y", "#c": "n"}),  # the verdict reused: the same answer
            update({"#a": "x", "#b": "x", "#c": "n"}),  # one attribute set twice: refused
            update({"#a": "y", "#b": "z", "#c": "y"}),  # set and added: refused
            update({"#a": "y", "#b": "z", "#c": "n"}),
        ]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert [isinstance(answer, tuple) for answer in fast] == [False, False, True, True, False]


def test_a_new_item_is_validated_once_and_answered_as_stock_moto_answers(
    mocked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto validates a new item's update twice (against an empty item, then against the item
    holding its key); the first answer is reused when the expression names no key attribute."""
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    validations: list[bool] = []
    counted = UpdateExpressionValidator.get_ast_processors

    def get_ast_processors(self: Any) -> Any:
        validations.append(SPEED.enabled)
        return counted(self)

    monkeypatch.setattr(UpdateExpressionValidator, "get_ast_processors", get_ast_processors)

    def calls(ddb: Any, table: str) -> list[Any]:
        def update(sk: str, expression: str, **names: str) -> Any:
            return outcome(
                lambda: ddb.update_item(
                    TableName=table,
                    Key=key(sk),
                    UpdateExpression=expression,
                    **({"ExpressionAttributeNames": names} if names else {}),
                    ExpressionAttributeValues={
                        name: value
                        for name, value in {":v": {"S": "v"}, ":one": {"N": "1"}}.items()
                        if name in expression
                    },
                    ReturnValues="ALL_NEW",
                )
            )

        def stored(sk: str) -> Any:
            return outcome(lambda: ddb.get_item(TableName=table, Key=key(sk), ConsistentRead=True))

        return [
            update("a", "SET #s = :v ADD #c :one", **{"#s": "status", "#c": "count"}),
            update("a", "SET #s = :v ADD #c :one", **{"#s": "status", "#c": "count"}),  # exists now
            update("b", "SET copy = sk, #s = :v", **{"#s": "status"}),  # names the key: refused
            update("c", "SET x = y + :one"),  # y is missing: refused, and nothing is created
            stored("c"),
            update("d", "SET #k = :v", **{"#k": "sk"}),  # the key itself: refused
            stored("d"),
            update("e", "SET x = :v, y = :v REMOVE z"),
        ]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert fast[1]["Attributes"]["count"] == {"N": "2"}
    assert [isinstance(answer, tuple) for answer in fast] == [
        False,
        False,
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    assert fast[4] == {} and fast[6] == {}  # refused updates created nothing
    # New items a and e, expressions naming no key: validated once with SPEED, twice without.
    assert validations.count(True) == validations.count(False) - 2, validations


def test_a_kept_validation_never_outlives_its_call(mocked: None) -> None:
    """A new item's first validation passes, then its creation fails (a key of the wrong
    type): the answer kept for the second validation must not serve the next call, even one
    with the same names and values objects (a review found it did)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    def calls(ddb: Any, table: str) -> list[Any]:
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        ddb.put_item(TableName=table, Item=key("held"))  # an item holding only its key
        names: dict[str, str] = {}
        values = {":v": {"S": "first"}}
        try:
            backend.update_item(table, {"pk": {"N": "1"}, "sk": {"S": "x"}}, "SET a = :v", names, values)
            refused = None
        except Exception as error:
            refused = type(error).__name__
        values[":v"] = {"S": "second"}  # the same objects, other contents
        item = backend.update_item(table, key("held"), "SET a = :v", names, values)
        return [refused, item.to_json()["Attributes"]["a"]]

    fast, stock = both_ways(calls)
    assert fast == stock
    assert fast[0] is not None and fast[1] == {"S": "second"}


def test_every_parsed_tree_keeps_its_pickle(mocked: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The validator copies a tree from a pickle taken once per tree, however many trees there
    are (a review found the cache full, and never refreshed, after 4,096)."""
    import pickle

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    trees = [UpdateExpressionParser.make(f"SET a{n} = :v") for n in range(5000)]
    for tree in trees:
        validators.deepcopy(tree)
    stock, taken = pickle.dumps, []
    monkeypatch.setattr(pickle, "dumps", lambda *a, **k: taken.append(1) or stock(*a, **k))
    copies = [validators.deepcopy(tree) for tree in (trees[0], trees[-1])]
    assert taken == [] and [type(c) for c in copies] == [type(trees[0]), type(trees[-1])]


def test_a_json_error_has_the_fields_and_answer_stock_moto_gives_it(mocked: None) -> None:
    """The JSON errors built without their discarded XML body: every field, header and body alike."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        ProvidedKeyDoesNotExist,
        TransactionCanceledException,
    )
    from moto.stepfunctions.exceptions import ExecutionDoesNotExist

    def built(enabled: bool) -> list[tuple[dict[str, Any], Any, Any]]:
        SPEED.enabled = enabled
        try:
            errors = [
                ProvidedKeyDoesNotExist(),
                ConditionalCheckFailed(),
                TransactionCanceledException([("ConditionalCheckFailed", "no", None), (None, None, None)]),
                ExecutionDoesNotExist("Execution Does Not Exist: 'arn'"),
            ]
        finally:
            SPEED.enabled = SPEED.default
        return [(vars(e), e.get_headers(), e.get_body()) for e in errors]

    fast, stock = built(True), built(False)
    assert fast == stock
    assert json.loads(fast[0][2]) == {
        "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
        "message": "The provided key element does not match the schema",
    }


@pytest.mark.parametrize(
    "body",
    [
        '{"events": [{"id": 1}]}',
        "<R><RequestId>old</RequestId></R>",  # the one moto rewrites
        '{"text": "<RequestId>x</RequestId>"}',  # the tag in JSON text: still rewritten, as stock
        b"<RequestId>old</RequestId>",  # bytes: the regex fails, stock ignores it
        "",
    ],
)
def test_an_answer_is_enriched_as_stock_moto_enriches_it(mocked: None, body: Any) -> None:
    from moto.core.responses import BaseResponse

    def enriched(enabled: bool) -> tuple[dict[str, str], Any]:
        SPEED.enabled = enabled
        try:
            headers, answer = BaseResponse._enrich_response({"status": 200}, body)  # type: ignore[dict-item]
        finally:
            SPEED.enabled = SPEED.default
        request_id = headers.pop("x-amzn-requestid")  # drawn afresh on every call
        return headers, answer.replace(request_id, "<id>") if isinstance(answer, str) else answer

    fast, stock = enriched(True), enriched(False)
    assert fast == stock
    assert fast[0] == {"status": "200"}
    rewritten = isinstance(fast[1], str) and "<id>" in fast[1]
    assert rewritten == (isinstance(body, str) and "<RequestId>" in body)


def test_every_adaptation_is_installed(mocked: None) -> None:
    """A shortcut that is defined but never installed would pass every other test here."""
    from botocore.auth import SigV4Auth
    from botocore.retries.standard import RetryPolicy
    from moto.core import responses
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.exceptions import JsonRESTError
    from moto.core.request import Request
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import table
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.responses import StepFunctionResponse

    targets = {
        "program parse": (ExecutionWorker._get_evaluation_entrypoint, stepfunctions),
        "JSONPath": (json_path.parse, stepfunctions),
        "ResultPath JSONPath": (result_path.parse, stepfunctions),
        "wire JSON": (responses.ActionResult.execute_result, dynamodb),
        "method names": (responses.method_names_from_class, moto_core),
        "request ids": (responses.gen_amzn_requestid_long, moto_core),
        "JSON answers unscanned": (responses.BaseResponse._enrich_response, moto_core),
        "signatures": (SigV4Auth.add_auth, botocore_patches),
        "update expressions": (UpdateExpressionParser.make, dynamodb),
        "conditions": (ConditionExpressionParser.parse, dynamodb),
        "validator walks": (DepthFirstTraverser.traverse_node_recursively, dynamodb),
        "validator verdicts": (validators.UpdateExpressionValidator.get_ast_processors, dynamodb),
        "validator copies": (validators.deepcopy, dynamodb),
        "query copies": (table.copy.deepcopy, dynamodb),
        "item sizes": (Item.__init__, dynamodb),
        "routes": (BotocoreStubber.process_request, moto_core),
        "environ": (Request.from_primitives, moto_core),
        "retries": (RetryPolicy.should_retry, botocore_patches),
        "history JSON": (StepFunctionResponse.get_execution_history, stepfunctions_api),  # its HistoryResult
        "new items validated once": (validators.UpdateExpressionValidator.validate, dynamodb),
        "JSON errors": (JsonRESTError.__init__, moto_core),
    }
    targets.update(
        (f"JSON copies in {name}", (importlib.import_module(name).copy.deepcopy, stepfunctions))
        for name in stepfunctions.JSON_COPIES
    )
    elsewhere = {
        name: fn.__module__ for name, (fn, module) in targets.items() if fn.__module__ != module.__name__
    }
    assert elsewhere == {}


# --- the interpreter's JSON copies ---------------------------------------------------------------
def containers(value: Any) -> list[int]:
    """The ids of every dict and list in a JSON value, itself included."""
    if isinstance(value, dict):
        return [id(value)] + [i for item in value.values() for i in containers(item)]
    if isinstance(value, list):
        return [id(value)] + [i for item in value for i in containers(item)]
    return []


def test_a_json_value_is_copied_as_deepcopy_copies_it_sharing_nothing() -> None:
    document: dict[str, Any] = {
        "saga": {"steps": [{"name": "Analysis", "attempts": [1, 2.5, -0.0], "ok": True}, {}, []]},
        "unicodé ✓": ["naïve", "日本", ""],
        "flags": [True, False, None, 0, 1, 10**30, 1e-300],
        "empty": {"list": [], "dict": {}, "nested": [[[{}]]]},
    }
    copied = stepfunctions.json_copy(document)
    assert copied == copy.deepcopy(document)
    assert json.dumps(copied) == json.dumps(document)  # key order, and bools still bools
    assert not set(containers(copied)) & set(containers(document))
    copied["saga"]["steps"][0]["attempts"].append(3)
    assert document["saga"]["steps"][0]["attempts"] == [1, 2.5, -0.0]


def test_anything_but_json_is_left_to_deepcopy() -> None:
    when = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
    document: dict[Any, Any] = {
        "when": when,
        "pair": ([1], "a"),
        "ordered": OrderedDict(a=[1]),
        7: {"k": [2]},
    }
    copied = stepfunctions.json_copy(document)
    assert copied == copy.deepcopy(document)
    assert type(copied["ordered"]) is OrderedDict and copied["ordered"]["a"] is not document["ordered"]["a"]
    assert type(copied["pair"]) is tuple and copied["pair"][0] is not document["pair"][0]
    assert copied["when"] == when and copied[7]["k"] is not document[7]["k"]
    cycle: dict[str, Any] = {"a": []}
    cycle["a"].append(cycle)  # never in JSON: RecursionError, then deepcopy's copy, cycle kept
    again = stepfunctions.json_copy(cycle)
    assert again["a"][0] is again and again is not cycle


def test_a_program_state_is_copied_as_deepcopy_copies_it(mocked: None) -> None:
    from moto.stepfunctions.parser.asl.eval import program_state

    running = program_state.ProgramRunning()
    running.next_state_name = "Analysis"
    failed = program_state.ProgramError({"error": "States.Timeout", "cause": "late"})
    states = [
        running,
        program_state.ProgramEnded(),
        program_state.ProgramStopped(datetime.datetime.now(), "Aborted", None),
        failed,
    ]
    for state in states:
        assert type(state) in stepfunctions._PLAIN_OBJECTS
        copied, stock = stepfunctions.json_copy(state), copy.deepcopy(state)
        assert type(copied) is type(stock) and vars(copied) == vars(stock) and copied is not state
    assert stepfunctions.json_copy(failed).error is not failed.error

    class Reduced:  # deepcopy would not copy it by its __dict__ alone
        def __reduce__(self) -> Any:
            return (Reduced, ())

    assert not stepfunctions._plain(Reduced) and stepfunctions._plain(program_state.ProgramRunning)


def test_the_interpreter_copies_json_only_while_speed_is_on(mocked: None) -> None:
    from moto.stepfunctions.parser.asl.eval import states

    shared = [1]
    document = {"a": shared, "b": shared}
    SPEED.enabled = True
    fast = states.copy.deepcopy(document)
    SPEED.enabled = False
    stock = states.copy.deepcopy(document)
    SPEED.enabled = SPEED.default
    assert fast == stock == document
    assert fast["a"] is not fast["b"]  # json_copy: shares nothing, as JSON between states on AWS
    assert stock["a"] is stock["b"]  # copy.deepcopy: its memo keeps the sharing
    assert states.copy.copy is copy.copy
