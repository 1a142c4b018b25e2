"""functions/common/targets.py: reaching a client-chosen URL without SSRF."""

from __future__ import annotations

import http.server
import ipaddress
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from functions.common import targets
from functions.common.errors import AgentPermanentError
from functions.common.special_addresses import (
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    embedded_ipv4,
    why_not_public,
)
from functions.common.targets import HttpResponse, TargetRefused, fetch, resolve_checked

pytestmark = pytest.mark.unit

PUBLIC = "93.184.216.34"


def _answer(port: int, *addresses: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for address in addresses:
        if ":" in address:
            out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
        else:
            out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
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
        return _answer(port, *self.records[host])


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


# -- issue 12 §7: the verdict does not depend on the interpreter's ipaddress tables ------------
# Classification only: nothing below connects anywhere but a 127.0.0.1 server the test started.

# What the guard let through under Python 3.11, whose ipaddress tables differ from Lambda's 3.13.
ISSUE_ADDRESSES = ["192.0.0.192", "2002:7f00:1::", "2002:a9fe:a9fe::", "::ffff:0:7f00:1", "fec0::1"]

# Teredo (RFC 4380): 2001:0:<server IPv4>:<flags>:<port>:<client IPv4>, the client bits inverted.
TEREDO_CLIENT_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # server 65.54.227.120, client 127.0.0.1
TEREDO_SERVER_METADATA = "2001:0:a9fe:a9fe:8000:63bf:f7f7:f7f7"  # server 169.254.169.254, client 8.8.8.8

REFUSED = [
    ("192.0.0.192", "IETF Protocol Assignments, RFC 6890"),
    ("192.0.0.9", "Port Control Protocol Anycast"),  # IANA: globally reachable; refused on purpose
    ("192.0.0.170", "NAT64/DNS64 Discovery"),
    ("2002:7f00:1::", "6to4 127.0.0.1: Loopback"),
    ("2002:a9fe:a9fe::", "6to4 169.254.169.254: Link Local"),
    ("2002:808:808::1", "6to4, RFC 3056"),  # the whole prefix, even around a public IPv4
    ("::ffff:0:7f00:1", "IPv4-translated 127.0.0.1: Loopback"),
    ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: Loopback"),
    ("::ffff:8.8.8.8", "IPv4-mapped Address, RFC 4291"),
    ("::127.0.0.1", "IPv4-compatible 127.0.0.1: Loopback"),
    ("fec0::1", "Site-Local (deprecated), RFC 3879"),
    ("64:ff9b::7f00:1", "NAT64 127.0.0.1: Loopback"),
    ("64:ff9b::808:808", "IPv4-IPv6 Translation (NAT64)"),  # no NAT64 path from Lambda
    ("64:ff9b:1::a00:1", "Local-use IPv4/IPv6 Translation"),
    (TEREDO_CLIENT_LOOPBACK, "Teredo client 127.0.0.1: Loopback"),
    (TEREDO_SERVER_METADATA, "Teredo server 169.254.169.254: Link Local"),
    ("169.254.169.254", "Link Local"),
    ("100.64.0.1", "Shared Address Space"),
    ("198.18.0.1", "Benchmarking"),
    ("198.19.255.255", "Benchmarking"),
    ("0.0.0.0", "This host on this network"),
    ("0.1.2.3", "This network"),
    ("192.0.2.7", "TEST-NET-1"),
    ("198.51.100.7", "TEST-NET-2"),
    ("203.0.113.7", "TEST-NET-3"),
    ("192.31.196.1", "AS112-v4"),
    ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4 Relay Anycast"),
    ("192.175.48.1", "Direct Delegation AS112"),
    ("224.0.0.251", "Multicast"),
    ("239.255.255.250", "Multicast"),
    ("240.0.0.1", "Reserved"),
    ("255.255.255.255", "Limited Broadcast"),
    ("::", "Unspecified Address"),
    ("::1", "Loopback Address"),
    ("100::1", "Discard-Only"),
    ("2001::1", "Teredo"),
    ("2001:1::1", "Port Control Protocol Anycast"),
    ("2001:2::1", "Benchmarking"),
    ("2001:20::1", "ORCHIDv2"),
    ("2001:1ff:ffff::1", "IETF Protocol Assignments"),
    ("2001:db8::1", "Documentation, RFC 3849"),
    ("3fff::1", "Documentation, RFC 9637"),
    ("5f00::1", "Segment Routing"),
    ("fd12:3456::1", "Unique-Local"),
    ("fe80::1", "Link-Local"),
    ("fe80::1%lo", "Link-Local"),  # getaddrinfo gives link-local answers with their scope
    ("ff02::1", "Multicast"),
    ("4000::1", "not global unicast"),  # outside 2000::/3: unassigned
    ("1fff:ffff::1", "not global unicast"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "Multicast"),
]

PUBLIC_ADDRESSES = [
    PUBLIC,
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",
    # Just outside the ranges above.
    "1.0.0.0",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.255",
    "192.0.3.0",
    "192.167.255.255",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2001:200::1",
    "2003::1",
    "3fff:1000::1",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_non_public_addresses_are_classified_with_their_range(address: str, reason: str) -> None:
    found = why_not_public(address)
    assert found is not None, address
    assert reason in found


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_classified_public(address: str) -> None:
    assert why_not_public(address) is None


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:1.2.3.4", [("IPv4-mapped", "1.2.3.4")]),
        ("::ffff:0:102:304", [("IPv4-translated", "1.2.3.4")]),
        ("::1.2.3.4", [("IPv4-compatible", "1.2.3.4")]),
        ("64:ff9b::c000:221", [("NAT64", "192.0.2.33")]),  # RFC 6052's example
        ("2002:c000:22d::1", [("6to4", "192.0.2.45")]),
        # RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (stored inverted).
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            [("Teredo server", "65.54.227.120"), ("Teredo client", "192.0.2.45")],
        ),
        ("::1", []),
        ("::", []),
        ("2606:4700:4700::1111", []),
        ("2001:db8::1", []),
    ],
)
def test_embedded_ipv4_is_decoded(address: str, carried: list[tuple[str, str]]) -> None:
    decoded = embedded_ipv4(ipaddress.IPv6Address(address))
    assert [(form, str(ip)) for form, ip in decoded] == carried


def test_every_row_names_its_range_and_rfc() -> None:
    for table, network in ((IPV4_SPECIAL, ipaddress.IPv4Network), (IPV6_SPECIAL, ipaddress.IPv6Network)):
        assert all(isinstance(row.prefix, network) for row in table)
        assert all(row.name and re.fullmatch(r"RFC \d+", row.rfc) for row in table)
        prefixes = [row.prefix for row in table]
        assert len(set(prefixes)) == len(prefixes)


# What the verdict must not consult: these answers change between Python versions.
_IPADDRESS_TABLES = (
    "is_private",
    "is_global",
    "is_reserved",
    "is_loopback",
    "is_link_local",
    "is_multicast",
    "is_unspecified",
    "is_site_local",
    "ipv4_mapped",
    "sixtofour",
    "teredo",
)


@pytest.fixture(params=["raise", "lie"])
def ipaddress_tables_out_of_use(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the ipaddress module's own tables raise, or say that everything is public."""

    def table(name: str) -> property:
        def answer(self: object) -> object:
            if request.param == "raise":
                raise AssertionError(f"ipaddress.{type(self).__name__}.{name} consulted")
            return name == "is_global" or (None if name in ("ipv4_mapped", "sixtofour", "teredo") else False)

        return property(answer)

    classes = (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)
    for cls in classes:
        for name in _IPADDRESS_TABLES:
            monkeypatch.setattr(cls, name, table(name), raising=False)
    return str(request.param)


def test_the_verdict_does_not_use_the_ipaddress_tables(ipaddress_tables_out_of_use: str) -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    if ipaddress_tables_out_of_use == "raise":  # the patch is in force
        with pytest.raises(AssertionError):
            _ = loopback.is_private
    else:
        assert loopback.is_global and not loopback.is_private
    for address, reason in REFUSED:
        found = why_not_public(address)
        assert found is not None and reason in found, address
    for address in PUBLIC_ADDRESSES:
        assert why_not_public(address) is None, address


# -- through the guard, with a patched resolver ----------------------------------------------


@pytest.mark.parametrize("address", ISSUE_ADDRESSES)
def test_the_addresses_from_the_issue_are_refused(address: str, dns: FakeDNS) -> None:
    dns["issue.example"] = [address]
    with pytest.raises(TargetRefused, match="private, loopback or metadata"):
        resolve_checked("issue.example", 80)


@pytest.mark.parametrize("hidden", ["2002:7f00:1::", TEREDO_CLIENT_LOOPBACK, "64:ff9b::a9fe:a9fe", "fec0::1"])
def test_one_non_public_answer_among_public_ones_refuses_the_name(hidden: str, dns: FakeDNS) -> None:
    dns["mixed.example"] = [PUBLIC, "2606:4700:4700::1111", hidden]
    with pytest.raises(TargetRefused, match=re.escape(f"({hidden}: ")):
        resolve_checked("mixed.example", 80)


def test_a_name_resolving_to_loopback_is_refused_unless_allow_listed(dns: FakeDNS) -> None:
    dns["demo.internal"] = ["127.0.0.1"]
    with pytest.raises(TargetRefused, match=r"demo\.internal .*127\.0\.0\.1: Loopback"):
        resolve_checked("demo.internal", 80)
    with pytest.raises(TargetRefused):
        resolve_checked("demo.internal", 80, allowed_private_hosts=("other.internal",))
    assert resolve_checked("demo.internal", 80, allowed_private_hosts=("demo.internal",)) == "127.0.0.1"


class _LoopbackSite(http.server.ThreadingHTTPServer):
    """A page on 127.0.0.1 that records who asked for what."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.seen: list[tuple[str, str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Recorder(http.server.BaseHTTPRequestHandler):
    server: _LoopbackSite

    def do_GET(self) -> None:
        self.server.seen.append((self.client_address[0], self.path, self.headers["Host"]))
        body = b"<p>demo</p>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_site() -> Iterator[_LoopbackSite]:
    site = _LoopbackSite()
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)


def test_an_allow_listed_name_is_fetched_from_the_checked_address(
    dns: FakeDNS, loopback_site: _LoopbackSite
) -> None:
    dns["demo.internal"] = ["127.0.0.1"]
    dns["127.0.0.1"] = ["127.0.0.1"]  # the connection's own (numeric) lookup
    url = f"http://demo.internal:{loopback_site.port}/plans?x=1"
    response = fetch(url, allowed_private_hosts=("demo.internal",), timeout=5.0)
    assert (response.status, response.body) == (200, "<p>demo</p>")
    # The name was looked up once; the connection went to the address that was checked.
    assert dns.calls == ["demo.internal", "127.0.0.1"]
    assert loopback_site.seen == [("127.0.0.1", "/plans?x=1", f"demo.internal:{loopback_site.port}")]


def test_a_refused_name_is_never_connected_to(dns: FakeDNS, loopback_site: _LoopbackSite) -> None:
    dns["demo.internal"] = ["127.0.0.1"]
    with pytest.raises(TargetRefused):
        fetch(f"http://demo.internal:{loopback_site.port}/")
    assert dns.calls == ["demo.internal"]
    assert loopback_site.seen == []
