"""Reaching a test target safely: resolve first, refuse private ranges, connect to what was checked.

The Execution agent fetches URLs that clients chose, so it must not become a way into the
VPC, the instance metadata service or localhost (SSRF). The name is resolved once, every
address is checked against an explicit table (``special_addresses``: the same verdict on every
Python version), and the connection goes to the checked address (a second lookup could
answer differently: DNS rebinding). Hosts on the allow-list may be private (the embedded
stack's demo site on 127.0.0.1).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from functions.common.errors import AgentPermanentError
from functions.common.special_addresses import why_not_public

MAX_BODY = 1_000_000


class TargetRefused(AgentPermanentError):
    """The target resolves to an address the agent must not reach."""


class TargetUnreachable(AgentPermanentError):
    """No test reached the target (every run is a network error): the saga has no result to
    report, so Execution fails and the saga rolls back, rather than succeed with a pass rate of 0.
    A target that answers some tests keeps its unreachable runs as ERROR outcomes."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    elapsed_ms: int


def resolve_checked(host: str, port: int, allowed_private_hosts: tuple[str, ...] = ()) -> str:
    """The address to connect to, or ``TargetRefused`` if any address is off-limits."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise TargetRefused(f"cannot resolve {host}: {error}") from error
    addresses = [str(info[4][0]) for info in infos]
    if host not in allowed_private_hosts:
        for address in addresses:
            reason = why_not_public(address)
            if reason is not None:
                raise TargetRefused(
                    f"{host} resolves to a private, loopback or metadata address ({address}: {reason})"
                )
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a pre-resolved address, with certificate checks against the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch(url: str, allowed_private_hosts: tuple[str, ...] = (), timeout: float = 10.0) -> HttpResponse:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_checked(parts.hostname, port, allowed_private_hosts)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(parts.hostname, address, port, timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "stepsaga-execution/1"})
        response = connection.getresponse()
        body = response.read(MAX_BODY).decode("utf-8", errors="replace")
        return HttpResponse(response.status, body, int((time.perf_counter() - started) * 1000))
    finally:
        connection.close()
