"""Speed adaptations of the embedded stack: work moto and botocore repeat on every call, done once.

Each one caches a pure function of its input, or skips work whose result nobody in the
process reads, so the answers stay the same. ``SPEED.enabled`` switches them all off at
once, so ``bench/`` can measure stock moto side by side in the same process, and
``tests/functional/test_speed.py`` checks that both give the same answers (and that every
adaptation is installed).

====================================  =====================================================
stock, on every call                  here
====================================  =====================================================
parse the ASL of every execution      once per definition; each execution unpickles its own
                                      copy (7x cheaper than ``copy.deepcopy``)
build a boto3 client for every task   one client per (region, service)
compile every JSONPath                once (moto's helper and ``ResultPath``)
serialise DynamoDB answers through    answer with their wire JSON, which they already are
the service model
list a response class's methods       once per class (~10 % of a small call)
(``inspect.getmembers``)
route a URL through every service's   once per URL; the passthrough and allow-list checks
patterns, then the backend's          still run on every call, and ``reset()`` (called when
``urls`` (S3 reloads a module)        the embedded stack starts a mock) forgets the routes
a 52-character request id drawn       a uuid4 (it ignores moto's seeded ``mock_random``:
from moto's random                    nothing here seeds it)
SigV4 in the Authorization header:    the same headers, credential scope included (moto
canonical request, four HMACs         finds the account there), a fixed signature; never for
                                      a presigned URL, nor once moto checks signatures
                                      (``INITIAL_NO_AUTH_ACTION_COUNT``)
tokenise and parse every DynamoDB     once per expression and the names and values it uses
condition and update expression
walk an update's AST rebuilding the   the table looked up once per walk; the AST copied by
node-type table at every node;        pickle
deep-copy the AST
re-size an item for every attribute   a running total (the same limit, the same error)
set (quadratic)
deep-copy a Query's matches before    copy each item's attribute table: what follows
filtering and projecting them         (filter, projection, the answer) only reads them
build each JSON request's (POST /)    the same WSGI environ, written directly
environ with werkzeug's builder
ask every retry checker about a 2xx   no: only a CRC32 mismatch could want a retry, and moto
                                      computes that header (a success on the last allowed
                                      attempt no longer says ``MaxAttemptsReached``)
====================================  =====================================================

The signature and retry shortcuts apply only while moto answers in this process: a
request to LocalStack or AWS is signed and checked as usual.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import re
import sys
import threading
import uuid
from functools import lru_cache
from typing import Any


class Speedups:
    """The switch: on unless ``STEPSAGA_SPEED=off`` (``bench.testloop`` runs the test suite both
    ways); benchmarks flip it at run time to compare with stock moto."""

    default = os.environ.get("STEPSAGA_SPEED", "on").lower() != "off"
    enabled = default


SPEED = Speedups()
_lock = threading.RLock()
_installed = False
_STUBBER: Any = None  # moto's botocore stubber, once installed


def install_speedups() -> Speedups:
    global _installed
    with _lock:  # held while patching: no caller returns before every patch is in place
        if _installed:
            return SPEED
        _install()
        _installed = True
    return SPEED


def answered_in_process() -> bool:
    """Whether requests are answered by moto in this process (the mock is on)."""
    return bool(_STUBBER.enabled)


def _install() -> None:
    global _STUBBER
    from moto.core.models import botocore_stubber

    _STUBBER = botocore_stubber  # asked on every signature and retry check: imported once
    _parse_programs_once()
    _clients_once()
    _jsonpath_once()
    _dynamodb_wire_json()
    _method_names_once()
    _cheap_request_ids()
    _fixed_signatures()
    _expressions_once()
    _update_validation_walks()
    _query_results_shallow()
    _items_sized_once()
    _routes_once()
    _json_requests_without_environ_builder()
    _no_retry_checks_on_success()


def _parse_programs_once() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # Parsed programs, by definition: each execution evaluates its own copy, because
    # components may keep state while they run. Unpickling is the cheap deep copy.
    programs: dict[str, bytes | None] = {}
    parse_entrypoint = ExecutionWorker._get_evaluation_entrypoint

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        if not SPEED.enabled or programs.get(definition, b"") is None:
            return parse_entrypoint(self)  # off, or a program that does not pickle: parse it
        pickled = programs.get(definition)
        if pickled is None:
            program = parse_entrypoint(self)
            try:
                programs[definition] = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                programs[definition] = None
            return program  # this execution's own: the cache keeps only the pickle
        return pickle.loads(pickled)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


def _clients_once() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    # boto3 clients, by (region, service, endpoint): creating one costs ~6 ms.
    stock_client_for = boto_client.boto_client_for
    clients: dict[tuple[str, str, bool], Any] = {}

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if not SPEED.enabled:
            return stock_client_for(region=region, service=service, state_credentials=state_credentials)
        key = (region, service, boto_client.botocore_stubber.enabled)
        found = clients.get(key)
        if found is None:
            with _lock:
                found = clients.get(key) or stock_client_for(region=region, service=service)
                clients[key] = found
        return found

    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is stock_client_for
        ):
            module.boto_client_for = client_for  # type: ignore[attr-defined]


def _jsonpath_once() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # moto's JSONPath helper, and ResultPath, which imports jsonpath_ng's parse itself. A
    # compiled expression is immutable: update_or_create changes the data it is given.
    for module in (json_path, result_path):
        stock_parse = module.parse
        cached_parse = lru_cache(maxsize=4096)(stock_parse)

        def parse(path: str, stock: Any = stock_parse, cached: Any = cached_parse) -> Any:
            return cached(path) if SPEED.enabled else stock(path)

        module.parse = parse  # type: ignore[attr-defined]


def _dynamodb_wire_json() -> None:
    # DynamoDB answers are JSON already in wire form ({"S": ...} maps): moto's generic,
    # model-driven serialiser walks every attribute of every item (~70 % of a Query's cost).
    from moto.core.responses import ActionResult

    serialise = ActionResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if SPEED.enabled and context.operation_model.service_model.service_name == "dynamodb":
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                return serialise(self, context)  # dates or bytes: let moto shape them
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return serialise(self, context)

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


def _method_names_once() -> None:
    # Every dispatch lists the response class's methods to find the action's handler.
    from moto.core import responses

    stock = responses.method_names_from_class
    names: dict[type, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        if not SPEED.enabled:
            return stock(clazz)
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = stock(clazz)
        return list(found)

    responses.method_names_from_class = method_names_from_class


def _cheap_request_ids() -> None:
    from moto.core import responses

    stock = responses.gen_amzn_requestid_long

    def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
        if not SPEED.enabled:
            return stock(headerdict)
        request_id = uuid.uuid4().hex.upper()
        if isinstance(headerdict, dict):
            headerdict["x-amzn-requestid"] = request_id
        return request_id

    responses.gen_amzn_requestid_long = gen_amzn_requestid_long


FIXED_SIGNATURE = "0" * 64


def _fixed_signatures() -> None:
    from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, get_current_datetime  # type: ignore[attr-defined]
    from botocore.exceptions import NoCredentialsError
    from moto import settings

    stock = SigV4Auth.add_auth
    header_signature = SigV4Auth._inject_signature_to_request  # type: ignore[attr-defined]

    def add_auth(self: Any, request: Any) -> None:
        # Only a signature in the Authorization header (a presigned URL carries its own in the
        # query), and only while moto does not check signatures (it does once IAM checks are on).
        if not (
            SPEED.enabled
            and answered_in_process()
            and type(self)._inject_signature_to_request is header_signature
            and math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)
        ):
            return stock(self, request)
        if self.credentials is None:
            raise NoCredentialsError()
        timestamp = request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # date, token and payload-hash headers
        # The credential scope as botocore writes it (moto reads the account from the key);
        # which headers were signed matters to no one.
        scope = f"{self.credentials.access_key}/{timestamp[:8]}/{self._region_name}/{self._service_name}"
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}/aws4_request, SignedHeaders=host;x-amz-date, "
            f"Signature={FIXED_SIGNATURE}"
        )
        return None

    SigV4Auth.add_auth = add_auth  # type: ignore[method-assign]


_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def _expressions_once() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    # An update expression's AST depends on its text alone; moto deep-copies it before it
    # substitutes names and values, so one parsed tree serves every call.
    stock_make = UpdateExpressionParser.make.__func__

    @lru_cache(maxsize=1024)
    def cached_make(cls: Any, expression: str) -> Any:
        return stock_make(cls, expression)

    def make(cls: Any, expression: str) -> Any:
        return cached_make(cls, expression) if SPEED.enabled else stock_make(cls, expression)

    UpdateExpressionParser.make = classmethod(make)

    # A condition's tree has the values it references in it: the key is the expression and
    # those names and values (a transaction passes every value of its update, used or not).
    stock_parse = ConditionExpressionParser.parse
    trees: dict[str, tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        expression = self.condition_expression
        if not (SPEED.enabled and expression):
            return stock_parse(self)
        names = self.expression_attribute_names or {}
        values = self.expression_attribute_values or {}
        used: dict[str, Any] = {}
        for token in _PLACEHOLDER.findall(expression):
            source = names if token[0] == "#" else values
            if token not in source:
                return stock_parse(self)  # let moto raise its own error
            used[token] = source[token]
        try:
            key = expression + "\0" + json.dumps(used, sort_keys=True)
        except (TypeError, ValueError):  # binary values
            return stock_parse(self)
        found = trees.get(key)
        if found is None:
            op = stock_parse(self)
            found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            if len(trees) < 4096:
                trees[key] = found
        op, names_found, values_found = found
        self.expr_attr_names_found[:] = names_found
        self.expr_attr_values_found[:] = values_found
        return op

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def _update_validation_walks() -> None:
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    # The same walk as moto's, with the node types a processor handles looked up once per
    # processor (each processor's table is fixed by its class) instead of at every node.
    stock = DepthFirstTraverser.traverse_node_recursively

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if not SPEED.enabled:
            return stock(self, node, child_id)
        types = self.__dict__.get("_stepsaga_types")
        if types is None:
            types = self.__dict__["_stepsaga_types"] = self.nodes_to_be_processed()
        if isinstance(node, Node):
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            if isinstance(node, types):
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if SPEED.enabled and isinstance(value, Node):
            try:
                return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception:  # a node holding something that does not pickle
                pass
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy  # type: ignore[assignment]


def _query_results_shallow() -> None:
    from moto.dynamodb.models import table
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    # ``Table.query`` deep-copies its matches (``copy.deepcopy(results)``) before it filters
    # and projects them; ``Item.project`` and ``SecondaryIndex.project`` build new items and
    # the answer only reads them. A copy of each item's attribute table is enough: an update
    # running meanwhile replaces attribute values in the stored item's table, not in this
    # copy (the dict copy itself is atomic under the GIL). Only that call passes a list of
    # items; every other deepcopy in the module is untouched.
    def shallow(item: Any) -> Any:
        copied: Any = Item.__new__(Item)
        copied.hash_key, copied.range_key = item.hash_key, item.range_key
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.update(attrs, item.attrs)  # the stored item passed the size check already
        copied.attrs = attrs
        return copied

    class _CopyOfTable:
        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if SPEED.enabled and type(value) is list and all(type(i) is Item for i in value):
                return [shallow(i) for i in value]
            return copy.deepcopy(value, memo)

    table.copy = _CopyOfTable  # type: ignore[assignment]


def _json_requests_without_environ_builder() -> None:
    import io

    from moto.core import request as moto_request

    # A JSON-protocol call (DynamoDB, Step Functions) is a POST to "/" with a small body:
    # its environ is the handful of keys werkzeug's EnvironBuilder would write, here
    # written directly (test_speed compares the two). Anything else goes the stock way.
    Request = moto_request.Request
    stock = Request.from_primitives.__func__  # type: ignore[attr-defined]

    def from_primitives(cls: Any, method: str, url: str, headers: Any, body: Any = None) -> Any:
        if not (SPEED.enabled and method == "POST" and isinstance(body, bytes | str | None)):
            return stock(cls, method, url, headers, body)
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        if path or not slash or "@" in host or scheme not in ("http", "https"):
            return stock(cls, method, url, headers, body)
        data = body.encode() if isinstance(body, str) else (body or b"")
        name, _, port = host.partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "REQUEST_URI": "/",
            "RAW_URI": "/",
            "SERVER_NAME": name,
            "SERVER_PORT": port or ("443" if scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host,
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in headers.items():
            if key.lower() == "transfer-encoding" or moto_request.should_preserve_original_header_name(key):
                return stock(cls, method, url, headers, body)
            environ_key = moto_request.environ_key_for_header(key)
            if environ_key in environ and environ_key != "CONTENT_LENGTH":
                return stock(cls, method, url, headers, body)  # a repeated header: werkzeug joins them
            if environ_key == "CONTENT_LENGTH":
                continue  # the body's own length, as EnvironBuilder writes it
            environ[environ_key] = value.decode("utf-8") if isinstance(value, bytes) else value
        environ[moto_request.PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {}
        return cls(environ)

    Request.from_primitives = classmethod(from_primitives)  # type: ignore[assignment]


def _items_sized_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    # LimitedSizeDict re-sizes the whole item for every attribute set (quadratic in the
    # attributes); building an item, a running total gives the same sum at every step.
    stock = Item.__init__

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        if not SPEED.enabled:
            return stock(self, hash_key, range_key, attrs)
        self.hash_key = hash_key
        self.range_key = range_key
        built = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            total += bytesize(key) + typed.size()
            if total > 405000:  # LimitedSizeDict's own limit
                raise ItemSizeTooLarge
            dict.__setitem__(built, key, typed)
        self.attrs = built
        return None

    Item.__init__ = init  # type: ignore[method-assign]


# Routes found so far, by URL: (service, handler); and each service's compiled routes.
_ROUTES: dict[str, tuple[str, Any]] = {}
_SERVICE_ROUTES: dict[str, list[tuple[Any, Any]]] = {}


def reset() -> None:
    """Forget the routes (a new mock may run with other endpoint or passthrough settings)."""
    with _lock:
        _ROUTES.clear()
        _SERVICE_ROUTES.clear()


def _routes_once() -> None:
    import moto.backend_index as backend_index
    from moto.core import botocore_stubber as stubber_module
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.exceptions import HTTPException
    from moto.core.utils import get_equivalent_url_in_aws_domain
    from moto.moto_api import recorder

    # moto routes every request by matching its URL against every service's pattern, then
    # against the matched backend's ``urls`` (a property rebuilt per call; S3's reloads a
    # module). Which handler serves a URL depends on the URL alone while a mock runs, so it
    # is remembered per URL; the passthrough and allow-list checks, which depend on
    # settings, run on every call; the request is then handled exactly as moto does.
    stock = stubber_module.BotocoreStubber.process_request

    def routes_of(service: str) -> list[tuple[Any, Any]]:
        found = _SERVICE_ROUTES.get(service)
        if found is None:
            import moto.backends as backends
            from moto.core import DEFAULT_ACCOUNT_ID

            backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
            if isinstance(backend_dict, stubber_module.BackendDict):
                regions = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            found = [(re.compile(url), method) for url, method in backend.urls.items()]
            _SERVICE_ROUTES[service] = found
        return found

    def route(clean_url: str) -> tuple[str, Any] | None:
        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            for url, method_to_execute in routes_of(service):
                if url.match(clean_url):
                    return service, method_to_execute
            return None  # moto falls through to its next pattern: let it
        return None

    def process_request(self: Any, request: Any) -> Any:
        if not SPEED.enabled:
            return stock(self, request)
        parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
        clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
        found = _ROUTES.get(clean_url)
        if found is None:
            found = route(clean_url)
            if found is None:
                return stock(self, request)
            if len(_ROUTES) < 10_000:  # object URLs of S3 vary without bound
                _ROUTES[clean_url] = found
        service, method_to_execute = found
        if passthrough_url(clean_url) or passthrough_service(service) or not service_whitelisted(service):
            return stock(self, request)  # moto's own path passes it through (or refuses it)
        normalized_request = stubber_module.normalize_request(request)
        try:
            recorder._record_request(normalized_request)
            return method_to_execute(
                normalized_request, normalized_request.raw_url, normalized_request.headers
            )
        except HTTPException as error:
            return error.code, error.get_headers(), error.get_body()

    stubber_module.BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def _no_retry_checks_on_success() -> None:
    from botocore.retries.standard import RetryPolicy

    # botocore's standard retry mode runs its whole chain of checkers on every answer,
    # successful or not (~3 % of a saga). A 2xx from moto is never retried: the one checker
    # that could want it (a DynamoDB CRC32 mismatch) checks a header moto computes from the
    # very body it sends.
    stock = RetryPolicy.should_retry

    def should_retry(self: Any, context: Any) -> bool:
        response = context.http_response
        if (
            SPEED.enabled
            and answered_in_process()
            and context.caught_exception is None
            and response is not None
            and 200 <= response.status_code < 300
        ):
            return False
        return bool(stock(self, context))

    RetryPolicy.should_retry = should_retry  # type: ignore[method-assign]
