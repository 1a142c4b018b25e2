"""functions/common/targets.py: reaching a client-chosen URL without SSRF."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from functions.common import targets
from functions.common.errors import AgentPermanentError
from functions.common.targets import HttpResponse, TargetRefused, fetch, resolve_checked

pytestmark = pytest.mark.unit

PUBLIC = "93.184.216.34"


def _answer(*addresses: str) -> list[tuple[Any, ...]]:
    out = []
    for address in addresses:
        if ":" in address:
            out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80, 0, 0)))
        else:
            out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80)))
    return out


class FakeDNS:
    """A fake resolver: host -> addresses. Unknown names fail like a real lookup."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def __setitem__(self, host: str, addresses: list[str]) -> None:
        self.records[host] = addresses

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        if host not in self.records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return _answer(*self.records[host])


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # instance metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "fd00::1",
        "fe80::1",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(address: str) -> None:
    # Literal addresses are resolved numerically: no DNS, no network.
    with pytest.raises(TargetRefused, match="private, loopback or metadata") as caught:
        resolve_checked(address, 80)
    assert isinstance(caught.value, AgentPermanentError)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_allow_listed_hosts_may_be_private(address: str) -> None:
    assert resolve_checked(address, 80, allowed_private_hosts=(address,)) == address


def test_the_allow_list_is_by_exact_host() -> None:
    with pytest.raises(TargetRefused):
        resolve_checked("127.0.0.1", 80, allowed_private_hosts=("localhost", "127.0.0.2"))


def test_a_public_literal_address_is_accepted() -> None:
    assert resolve_checked(PUBLIC, 443) == PUBLIC


def test_a_public_name_resolving_to_a_private_address_is_refused(dns: FakeDNS) -> None:
    dns["innocent.example"] = ["169.254.169.254"]
    with pytest.raises(TargetRefused, match=r"innocent\.example .*169\.254\.169\.254"):
        resolve_checked("innocent.example", 80)


def test_any_private_address_among_the_answers_is_refused(dns: FakeDNS) -> None:
    dns["mixed.example"] = [PUBLIC, "10.0.0.5"]
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.5"):
        resolve_checked("mixed.example", 80)


def test_a_name_resolving_to_mapped_loopback_is_refused(dns: FakeDNS) -> None:
    dns["v6.example"] = ["::ffff:7f00:1"]
    with pytest.raises(TargetRefused):
        resolve_checked("v6.example", 80)


def test_a_public_name_returns_its_first_address(dns: FakeDNS) -> None:
    dns["shop.example"] = [PUBLIC, "93.184.216.35"]
    assert resolve_checked("shop.example", 443) == PUBLIC


def test_an_allow_listed_name_may_resolve_privately(dns: FakeDNS) -> None:
    dns["demo.internal"] = ["127.0.0.1"]
    assert resolve_checked("demo.internal", 80, allowed_private_hosts=("demo.internal",)) == "127.0.0.1"


def test_an_unresolvable_name_is_refused(dns: FakeDNS) -> None:
    with pytest.raises(TargetRefused, match=r"cannot resolve nowhere\.example"):
        resolve_checked("nowhere.example", 80)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://",
        "//x",
    ],
)
def test_fetch_refuses_non_http_urls(url: str, dns: FakeDNS) -> None:
    with pytest.raises(TargetRefused, match="not an http"):
        fetch(url)
    assert dns.calls == []  # refused before any lookup


class _FakeResponse:
    status = 201

    def read(self, limit: int) -> bytes:
        assert limit == targets.MAX_BODY
        return "<p>caf\u00e9</p>".encode() + b"\xff"


class _FakeConnection:
    made: list[_FakeConnection] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.closed = False
        _FakeConnection.made.append(self)

    def request(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.requests.append((method, path, headers))

    def getresponse(self) -> _FakeResponse:
        return _FakeResponse()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[_FakeConnection]:
    _FakeConnection.made = []
    monkeypatch.setattr(targets.http.client, "HTTPConnection", _FakeConnection)
    return _FakeConnection.made


def test_fetch_connects_to_the_checked_address_not_the_name(
    dns: FakeDNS, connections: list[_FakeConnection]
) -> None:
    dns["shop.example"] = [PUBLIC]
    response = fetch("http://shop.example:8080/pricing?plan=pro", timeout=3.0)
    assert response.status == 201
    assert response.body == "<p>caf\u00e9</p>\ufffd"
    assert isinstance(response, HttpResponse)
    assert dns.calls == ["shop.example"]  # resolved once: no second lookup to rebind
    (connection,) = connections
    assert (connection.host, connection.port, connection.timeout) == (PUBLIC, 8080, 3.0)
    (method, path, headers) = connection.requests[0]
    assert (method, path) == ("GET", "/pricing?plan=pro")
    assert headers["Host"] == "shop.example:8080"
    assert connection.closed


def test_fetch_defaults_the_path_and_port(dns: FakeDNS, connections: list[_FakeConnection]) -> None:
    dns["shop.example"] = [PUBLIC]
    fetch("http://shop.example")
    (connection,) = connections
    assert connection.port == 80
    assert connection.requests[0][1] == "/"


def test_fetch_refuses_a_private_target_before_connecting(
    dns: FakeDNS, connections: list[_FakeConnection]
) -> None:
    dns["rebind.example"] = ["10.1.2.3"]
    with pytest.raises(TargetRefused):
        fetch("http://rebind.example/")
    with pytest.raises(TargetRefused):
        fetch("http://169.254.169.254/latest/meta-data/")
    assert connections == []
