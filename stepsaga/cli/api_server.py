"""The HTTP API on 127.0.0.1, over the embedded stack: the deployed API handler
(``functions.handlers.api``) called in-process, as API Gateway's REST proxy integration would.

    python -m stepsaga.cli.api_server [--port 8000]

starts an embedded stack and the demo site and serves the API until Ctrl-C. In tests:

    with serve(stack) as api:
        urllib.request.urlopen(api.url + "/sagas?limit=5")

Each HTTP request becomes an API Gateway REST proxy event (httpMethod, path, resource,
pathParameters, query string and headers in single- and multi-value forms, body,
requestContext with identity) and the handler's answer becomes the HTTP response. The
handler runs with the function's environment (table names, machine ARNs) in a per-thread
``os.environ`` overlay, one request at a time in this process: Powertools' resolver keeps the
current event on a class attribute (``BaseRouter.current_event``), shared by every resolver in
the process, so two requests resolved at once would read each other's event. The lock is that
of one Lambda instance, which serves one request at a time too; it hides races between
instances, which ``tests/functional/test_start_race.py`` runs without the resolver.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from functions.api.routes import HANDLER, ROUTES
from stepsaga.cli import running
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.account import ACCOUNT, REGION
from stepsaga.embedded.patches import awslambda

GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway refuses larger payloads itself
Answer = tuple[int, dict[str, str], bytes]  # status, headers, payload
WsgiApp = Callable[[dict[str, Any], Any], Any]
TOO_LONG: Answer = (413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
# One resolver per process (see above), whichever server calls it.
_RESOLVER = threading.Lock()

# API Gateway's resources, as infra/api.py builds them from the route table: template, path regex.
_PATTERNS = [(route.path, route.pattern) for route in ROUTES]


def match_resource(path: str) -> tuple[str, dict[str, str] | None]:
    for resource, pattern in _PATTERNS:
        found = pattern.match(path)
        if found:
            return resource, (found.groupdict() or None)
    return "/{proxy+}", {"proxy": path.lstrip("/")}


def deployed_environment(stack: EmbeddedStack) -> dict[str, str] | None:
    """The environment of the stack's API function (infra/api.py), None if it has none."""
    return stack.function_environment(HANDLER)


def handler_environment(stack: EmbeddedStack) -> dict[str, str]:
    """The API function's environment as the stack deployed it (table names, machine ARNs)."""
    deployed = deployed_environment(stack)
    if deployed is None:
        raise LookupError(f"the embedded stack deployed no function with handler {HANDLER}")
    return {**deployed, **stack.runtime_env}


def _context() -> awslambda.LambdaContext:
    """The API function's context; 29 s is API Gateway's integration timeout."""
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:StepSagaApi"
    return awslambda.LambdaContext("StepSagaApi", arn, 512, 29, log_stream="local")


def to_event(
    method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, client: str
) -> dict[str, Any]:
    """An API Gateway REST proxy event for one HTTP request."""
    split = urlsplit(raw_path)
    path = unquote(split.path) or "/"
    resource, path_parameters = match_resource(path)
    query = parse_qs(split.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "path": f"/local{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "local",
            "domainPrefix": "127",
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": client,
                "userAgent": multi_headers.get("User-Agent", [None])[-1],
                "caller": None,
                "user": None,
                "userArn": None,
                "accessKey": None,
                "accountId": None,
                "cognitoIdentityId": None,
            },
            "domainName": "127.0.0.1",
            "apiId": "local",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class ApiServer:
    """The API handler behind a ThreadingHTTPServer on 127.0.0.1 (``port=0``: any free port)."""

    def __init__(self, environment: dict[str, str], port: int = 0) -> None:
        self.environment = environment
        self._environ = awslambda.install_thread_environ()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > GATEWAY_MAX_BODY:
                    self._send(*TOO_LONG)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                self._send(
                    *server.respond(
                        self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                    )
                )

            def __getattr__(self, name: str) -> Any:
                # Every method (TRACE, QUERY, ...) reaches the handler, which answers one it has no
                # route for as API Gateway would; http.server's own 501 would read as a server error.
                if name.startswith("do_"):
                    return self._proxy
                raise AttributeError(name)

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD answer has the headers of a GET, no body
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def respond(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, client: str
    ) -> Answer:
        """One HTTP request through the handler: the response's status, headers and payload."""
        result = self.invoke(to_event(method, raw_path, headers, body, client))
        answer_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            answer_headers[name] = ", ".join(values)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return int(result.get("statusCode", 502)), answer_headers, payload

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the deployed handler as Lambda would (a 502 like API Gateway's when it raises)."""
        handler = awslambda.resolve_handler(HANDLER)
        with _RESOLVER, self._environ.overlay(self.environment):
            try:
                return dict(handler(event, _context()))
            except Exception as error:  # API Gateway answers 502 when the integration fails
                body = json.dumps({"error": "BadGateway", "message": f"the API function failed: {error}"})
                return {"statusCode": 502, "headers": {"Content-Type": "application/json"}, "body": body}

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ApiServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def user_request_path(api_id: str, stage: str) -> str:
    """Where LocalStack serves a REST API on its endpoint, and so ``stepsaga up`` too: one URL form
    for the e2e suite and for scripts written against either."""
    return f"/restapis/{api_id}/{stage}/_user_request_"


def mount_user_requests(api: ApiServer, prefix: str, app: WsgiApp) -> WsgiApp:
    """``app`` (the AWS endpoint's WSGI app) answering requests under ``prefix`` with the API."""
    http_status = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

    def routed(environ: dict[str, Any], start_response: Any) -> Any:
        # RAW_URI keeps the client's percent-encoding (PATH_INFO is already decoded once).
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw:  # another WSGI server: rebuild the target as the client sent it
            query = environ.get("QUERY_STRING")
            raw = quote(environ.get("PATH_INFO", "")) + (f"?{query}" if query else "")
        path = raw.split("?", 1)[0]
        if path != prefix and not path.startswith(prefix + "/"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not length and environ.get("wsgi.input_terminated"):  # chunked: no length given
            body = environ["wsgi.input"].read(GATEWAY_MAX_BODY + 1)
            length = len(body)
        else:
            body = environ["wsgi.input"].read(length) if 0 < length <= GATEWAY_MAX_BODY else b""
        if length > GATEWAY_MAX_BODY:
            status, headers, payload = TOO_LONG
        else:
            request_headers = [
                (key[5:].replace("_", "-").title(), value)
                for key, value in environ.items()
                if key.startswith("HTTP_")
            ]
            if environ.get("CONTENT_TYPE"):
                request_headers.append(("Content-Type", environ["CONTENT_TYPE"]))
            status, headers, payload = api.respond(
                environ["REQUEST_METHOD"],
                raw[len(prefix) :] or "/",
                request_headers,
                body,
                environ.get("REMOTE_ADDR", "127.0.0.1"),
            )
        hop = ("content-length", "connection")
        response_headers = [(k, v) for k, v in headers.items() if k.lower() not in hop]
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(http_status.get(status, f"{status} Unknown"), response_headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else payload]

    return routed


def serve(stack: EmbeddedStack, port: int = 0) -> ApiServer:
    """Serve the API over ``stack`` on 127.0.0.1:``port`` (started; stop it or use ``with``)."""
    return ApiServer(handler_environment(stack), port).start()


LOG_FILE = "api-functions.log"


def banner(api_url: str, site_url: str, functions_log: str = "") -> str:
    """What the server is, how it differs from API Gateway, and the command to try."""
    return "\n".join(
        [
            f"demo site (a target for sagas): {site_url}",
            f"saga API: {api_url}   (OpenAPI: {api_url}/openapi.json; Ctrl-C stops)",
            f"function logs: {functions_log or 'printed here (--verbose)'}",
            "local server: no SigV4 check (API Gateway's IAM auth is not enforced) and every "
            "sender is recorded as 127.0.0.1",
            f"try: stepsaga saga --endpoint {api_url} start --project acme --target-url {site_url} "
            "--story 'As a visitor I open / and see \"Welcome to Acme\"' --wait",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stepsaga api", description="Serve the saga HTTP API over an embedded stack on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--verbose", action="store_true", help="print the functions' JSON logs here (default: a file)"
    )
    args = parser.parse_args(argv)
    from stepsaga.cli.demo_site import DemoSite
    from stepsaga.embedded.stack import port_in_use

    if args.port and port_in_use(args.port):  # one line, before the deploy
        print(
            f"stepsaga api: port {args.port} is in use: stop what listens there or choose --port",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    functions_log = running.log_functions(args.verbose, LOG_FILE)
    with DemoSite() as site, EmbeddedStack() as stack, serve(stack, args.port) as api:
        print(f"embedded stack deployed in {time.perf_counter() - started:.1f} s")
        print(banner(api.url, site.url, functions_log), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
