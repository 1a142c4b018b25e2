"""moto's request dispatch: routing, request ids, handler lookup and WSGI environ (speed only)."""

from __future__ import annotations

import re
import sys
import threading
import uuid
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once
from stepsaga.embedded.patches.speed import SPEED

_lock = threading.RLock()  # held while the route caches are cleared


# --- speed (off with SPEED: the same answers, computed once) --------------------------------------
def install_method_names_once() -> None:
    if not once("method-names-once"):
        return
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

    replace(responses, "method_names_from_class", method_names_from_class)


def install_cheap_request_ids() -> None:
    if not once("cheap-request-ids"):
        return
    from moto.core import responses

    stock = responses.gen_amzn_requestid_long

    def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
        if not SPEED.enabled:
            return stock(headerdict)
        request_id = uuid.uuid4().hex.upper()
        if isinstance(headerdict, dict):
            headerdict["x-amzn-requestid"] = request_id
        return request_id

    replace(responses, "gen_amzn_requestid_long", gen_amzn_requestid_long)


def install_json_answers_unscanned() -> None:
    """moto writes the request id into every answer's XML ``<RequestId>`` with a regex run over
    the whole body, JSON included: ~0.17 s for a 7,000-event history's 10 MB. Without that tag
    the regex cannot match, so a body without it is returned as it is, unscanned."""
    if not once("json-answers-unscanned"):
        return
    from moto.core import responses

    stock = responses.BaseResponse._enrich_response

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if not (SPEED.enabled and isinstance(body, str)) or "<RequestId>" in body:
            return stock(headers, body)
        if "status" in headers:
            headers["status"] = str(headers["status"])
        responses.gen_amzn_requestid_long(headers)  # looked up now: install_cheap_request_ids' one
        return headers, body

    replace(responses.BaseResponse, "_enrich_response", staticmethod(_enrich_response))


def install_json_requests_without_environ_builder() -> None:
    if not once("json-requests-without-environ-builder"):
        return
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

    replace(Request, "from_primitives", classmethod(from_primitives))


# Routes found so far, by URL: (service, handler); and each service's compiled routes.
_ROUTES: dict[str, tuple[str, Any]] = {}
_SERVICE_ROUTES: dict[str, list[tuple[Any, Any]]] = {}


def forget_routes() -> None:
    """Forget the routes (a new mock may run with other endpoint or passthrough settings)."""
    with _lock:
        _ROUTES.clear()
        _SERVICE_ROUTES.clear()


def install_routes_once() -> None:
    if not once("routes-once"):
        return
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

    replace(stubber_module.BotocoreStubber, "process_request", process_request)


def install_json_errors_without_xml() -> None:
    if not once("json-errors-without-xml"):
        return
    import json

    from moto.core.exceptions import JsonRESTError
    from werkzeug.exceptions import HTTPException

    # A JSON error's constructor renders an XML body (``_RESTError.__init__``, xmltodict) and
    # then replaces it with the JSON one. DynamoDB's update executor raises and catches such an
    # error for every attribute an ADD or SET creates (``ProvidedKeyDoesNotExist``), so that XML
    # is made ~2 times per parallel Map item and thrown away. Here the same fields are set
    # without it.
    stock = JsonRESTError.__init__

    def init(self: Any, error_type: str, message: str, _: str = "", **kwargs: Any) -> None:
        if not SPEED.enabled:
            return stock(self, error_type, message, _, **kwargs)
        HTTPException.__init__(self)
        self.error_type = error_type
        self.message = message
        self.description = json.dumps({"__type": error_type, "message": message})
        self.content_type = "application/json"
        return None

    replace(JsonRESTError, "__init__", init)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.core.utils.method_names_from_class": Pinned(
        "9dbac89d082b655fee902c450e69de9dbadf9699ad06411298494984b55138c3",
        "install_method_names_once",
        "that the names depend on the class alone",
    ),
    "moto.utilities.aws_headers.gen_amzn_requestid_long": Pinned(
        "e651941c2107cdc2b174be191284ea6604b1a738cd5e4ddbf7e6244060b8f01c",
        "install_cheap_request_ids",
        "where the request id is written",
    ),
    "moto.core.request.Request.from_primitives": Pinned(
        "4cfb35d5fb26843afc829586edd3210e0154c686d45c4b991c862710661c3eee",
        "install_json_requests_without_environ_builder",
        "the headers it drops and preserves, and how it builds the environ",
    ),
    "werkzeug.test.EnvironBuilder.get_environ": Pinned(
        "01c689a7cee0e01a5198e29f844128a5152e9c3e401f968db987a956e80eaf38",
        "install_json_requests_without_environ_builder",
        "the environ keys it writes: the patch writes them itself",
        replaced=False,
    ),
    "moto.core.responses.BaseResponse._enrich_response": Pinned(
        "86cd4a4051dd20e836fcc671792a66d3715be4c4f963705b2ae5f400bf0259d7",
        "install_json_answers_unscanned",
        "that it still only rewrites <RequestId> in the body and adds the request id and status",
    ),
    "moto.core.exceptions.JsonRESTError.__init__": Pinned(
        "c4d537e5b3334543d7f1b35f15648582b1e711343d37631b8a821a3d1b0ed8c8",
        "install_json_errors_without_xml",
        "the fields it sets after its base's constructor: the patch sets them itself",
    ),
    "moto.core.exceptions._RESTError.__init__": Pinned(
        "ee3198e8672e579c5703a848995926643a3fca2da451519652063e5e2a6d30d9",
        "install_json_errors_without_xml",
        "every field it sets but the XML description (the JSON constructor replaces that one)",
        replaced=False,
    ),
    "moto.core.botocore_stubber.BotocoreStubber.process_request": Pinned(
        "f79a1a778c7e755f0c7f234cdab9e36312ed2b16d7051baf06b04872f79dd5b2",
        "install_routes_once",
        "the routing and the passthrough and allow-list checks are copied: port any change",
    ),
}
