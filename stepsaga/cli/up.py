"""``stepsaga up``: deploy the stack once and serve it, on 127.0.0.1 and on one shared state, to
every client: an AWS-compatible endpoint (boto3, the AWS CLI, any SDK), the saga HTTP API and
the local console. Ctrl-C (or SIGTERM) stops it.

    stepsaga up [--endpoint-port 4566] [--api-port 8000] [--console-port 8080] [--verbose]

moto runs as a server in this process (``EmbeddedStack(server_port=...)``) and the Lambda
functions run in-process against it. The ports are checked before the deploy: one in use is a
one-line error and exit code 2. When ready, the state file (``stepsaga.cli.running``) names the
ports, so ``stepsaga saga``, ``viewer`` and ``resume`` attach to this stack. Request logs and the
functions' JSON logs are printed only with ``--verbose``; otherwise the logs go to
``functions.log`` beside the state file. The local API skips API Gateway's SigV4 (IAM) check.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from stepsaga.cli import running
from stepsaga.embedded.stack import port_in_use

DEFAULT_PORTS = {"endpoint": 4566, "api": 8000, "console": 8080}  # 4566: LocalStack's
WHAT = {"endpoint": "AWS endpoint", "api": "saga API", "console": "console"}
LOG_FILE = "functions.log"
Served = TypeVar("Served")


class PortInUse(Exception):
    """A port we were asked to serve on is taken: one line for the user, exit code 2."""

    def __init__(self, role: str, port: int) -> None:
        option = f"--{role}-port"
        super().__init__(f"port {port} ({WHAT[role]}) is in use: stop what listens there or choose {option}")


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="stepsaga up",
        description="Deploy the stack once and serve it on 127.0.0.1: an AWS-compatible endpoint, "
        "the saga HTTP API and the local console, on one shared state, until Ctrl-C.",
    )
    for role, port in DEFAULT_PORTS.items():
        made.add_argument(
            f"--{role}-port",
            type=int,
            default=port,
            metavar="PORT",
            help=f"port of the {WHAT[role]} (default {port}; 0: any free port)",
        )
    made.add_argument(
        "--verbose", action="store_true", help="print every request and the functions' logs here"
    )
    return made


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_ports(ports: dict[str, int]) -> None:
    """Raise PortInUse for the first port taken, or ValueError for one given twice or out of range."""
    chosen = [port for port in ports.values() if port]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"each port must differ: {', '.join(f'{r} {p}' for r, p in ports.items())}")
    for role, port in ports.items():
        if not 0 <= port <= 65535:
            raise ValueError(f"--{role}-port {port} is not a port")
        if port and port_in_use(port):
            raise PortInUse(role, port)


def _bind(role: str, port: int, make: Callable[[], Served]) -> Served:
    """``make()`` a server, naming the port when another process took it since the check."""
    try:
        return make()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(role, port) from None
        raise


def banner(state: running.Running, site: str, seconds: float, path: str, user_requests: str) -> str:
    endpoint = state.endpoint
    lines = [
        f"stepsaga up: stack deployed in {seconds:.1f} s; every client below shares it. Ctrl-C stops it.",
        f"  AWS endpoint   {endpoint}",
        f"  saga API       {state.api}   (OpenAPI: {state.api}/openapi.json; no SigV4 check locally)",
        f"                 and {endpoint}{user_requests}   (LocalStack's URL form)",
        f"  console        {state.console}/",
        f"  demo site      {site}   (a target for sagas)",
        f"  function logs  {state.functions_log or 'printed here (--verbose)'}",
        f"  state file     {path}   (stepsaga saga, viewer and resume attach through it)",
        "try:",
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1",
        f"  aws --endpoint-url {endpoint} stepfunctions list-state-machines",
        f"  stepsaga saga start --project acme --target-url {site} "
        "--story 'As a visitor I open / and see \"Welcome to Acme\"' --wait",
    ]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace, out: Any) -> int:
    from infra.api import STAGE
    from infra.names import OUT_API_ID
    from stepsaga.cli import api_server, viewer
    from stepsaga.cli.demo_site import DemoSite
    from stepsaga.embedded import EmbeddedStack

    started = time.perf_counter()
    functions_log = running.log_functions(args.verbose, LOG_FILE)
    endpoint_port = args.endpoint_port or free_port()  # moto must know its port before it starts
    with contextlib.ExitStack() as cleanup:
        site = cleanup.enter_context(DemoSite())
        stack = EmbeddedStack(server_port=endpoint_port)
        cleanup.callback(stack.stop_services)
        _bind("endpoint", endpoint_port, stack.start_services)
        if args.verbose:
            logging.getLogger("werkzeug").setLevel(logging.INFO)  # every request moto answers
        stack.deploy()
        api = cleanup.enter_context(
            _bind("api", args.api_port, lambda: api_server.serve(stack, args.api_port))
        )
        # The API on the endpoint too, at LocalStack's URL form (the e2e suite's code path there).
        user_requests = api_server.user_request_path(stack.outputs[OUT_API_ID], STAGE)
        stack.route_endpoint(lambda app: api_server.mount_user_requests(api, user_requests, app))
        console, console_url = _bind(
            "console",
            args.console_port,
            lambda: viewer.serve(stack.client, stack.state_machine_arn, args.console_port, stack=stack),
        )
        cleanup.callback(console.server_close)
        cleanup.callback(console.shutdown)
        state = running.Running(
            pid=os.getpid(),
            endpoint=f"http://127.0.0.1:{endpoint_port}",
            api=api.url,
            console=console_url,
            functions_log=functions_log,
        )
        path = running.write(state)
        cleanup.callback(running.remove, state.pid)
        print(
            banner(state, site.url, time.perf_counter() - started, str(path), user_requests),
            file=out,
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstepsaga up: stopping", file=out, flush=True)
    return 0


def main(argv: list[str] | None = None, *, out: Any = None, err: Any = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = parser().parse_args(argv)
    already = running.read()
    if already is not None:
        print(
            f"stepsaga up: already running (pid {already.pid}): endpoint {already.endpoint}, "
            f"API {already.api}, console {already.console}/",
            file=err,
        )
        return 2
    try:
        check_ports({role: getattr(args, f"{role}_port") for role in DEFAULT_PORTS})
    except (PortInUse, ValueError) as error:
        print(f"stepsaga up: {error}", file=err)
        return 2
    import infra  # noqa: F401  (silences jsii's Node.js banner before aws_cdk loads)

    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIGINT ignored)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on `kill` as on Ctrl-C
    try:
        return serve(args, out)
    except PortInUse as error:
        print(f"stepsaga up: {error}", file=err)
        return 2
    except KeyboardInterrupt:  # during the deploy: the ExitStack has stopped what had started
        print("\nstepsaga up: stopped", file=out, flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
