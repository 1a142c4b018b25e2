"""Which IP addresses are off the public internet: one explicit table, the same on every Python.

The SSRF guard (``targets.py``) used to ask ``ipaddress``'s ``is_global``, whose tables change
between Python releases: under 3.11 it let through 192.0.0.192, 6to4 addresses embedding
127.0.0.1, ``::ffff:0:0:0/96`` and ``fec0::/10``, while Lambda runs 3.13. Here ``ipaddress`` only
parses and does prefix arithmetic; what is special is decided by the rows below, taken from the
IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, as of 2025), plus multicast,
the deprecated IPv6 forms and all IPv6 space outside global unicast 2000::/3.

A row IANA marks "globally reachable" is still refused when it is anycast infrastructure
(PCP, TURN, AS112, AMT, ...): no test target lives there, so refusing it costs nothing. An IPv6
address that carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is refused for
its prefix, and the IPv4 address it carries is decoded and checked too, so the reason names
what it would reach.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network


@dataclass(frozen=True)
class SpecialRange:
    prefix: IPv4Network | IPv6Network
    name: str
    rfc: str


def _row(prefix: str, name: str, rfc: str) -> SpecialRange:
    return SpecialRange(ipaddress.ip_network(prefix), name, rfc)  # strict: a typo'd prefix fails at import


IPV4_SPECIAL: tuple[SpecialRange, ...] = (
    _row("0.0.0.0/8", "This network", "RFC 791"),
    _row("0.0.0.0/32", "This host on this network", "RFC 1122"),
    _row("10.0.0.0/8", "Private-Use", "RFC 1918"),
    _row("100.64.0.0/10", "Shared Address Space (carrier-grade NAT)", "RFC 6598"),
    _row("127.0.0.0/8", "Loopback", "RFC 1122"),
    _row("169.254.0.0/16", "Link Local (instance metadata)", "RFC 3927"),
    _row("172.16.0.0/12", "Private-Use", "RFC 1918"),
    # The whole /24 is refused; IANA lists .9 and .10 as globally reachable anycast services.
    _row("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix (DS-Lite)", "RFC 7335"),
    _row("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    _row("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),  # IANA: globally reachable
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),  # IANA: global
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    _row("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    _row("192.31.196.0/24", "AS112-v4", "RFC 7535"),  # IANA: globally reachable
    _row("192.52.193.0/24", "AMT", "RFC 7450"),  # IANA: globally reachable
    _row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    _row("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751"),
    _row("192.168.0.0/16", "Private-Use", "RFC 1918"),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),  # IANA: globally reachable
    _row("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    _row("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    _row("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    _row("224.0.0.0/4", "Multicast", "RFC 5771"),
    _row("240.0.0.0/4", "Reserved", "RFC 1112"),
    _row("255.255.255.255/32", "Limited Broadcast", "RFC 919"),
)

IPV6_SPECIAL: tuple[SpecialRange, ...] = (
    # Everything outside 2000::/3 is unassigned or special (IANA IPv6 Address Space registry);
    # the rows inside these three only give a more precise name.
    _row("::/3", "Reserved by IETF (not global unicast)", "RFC 4291"),
    _row("4000::/2", "Reserved by IETF (not global unicast)", "RFC 4291"),
    _row("8000::/1", "Reserved by IETF (not global unicast)", "RFC 4291"),
    _row("::/128", "Unspecified Address", "RFC 4291"),
    _row("::1/128", "Loopback Address", "RFC 4291"),
    _row("::/96", "IPv4-compatible Address (deprecated)", "RFC 4291"),
    _row("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291"),
    _row("::ffff:0:0:0/96", "IPv4-translated Address (SIIT)", "RFC 2765"),
    # IANA: globally reachable. Refused whole: Lambda has no NAT64 path, a target never needs one.
    _row("64:ff9b::/96", "IPv4-IPv6 Translation (NAT64)", "RFC 6052"),
    _row("64:ff9b:1::/48", "Local-use IPv4/IPv6 Translation", "RFC 8215"),
    _row("100::/64", "Discard-Only Address Block", "RFC 6666"),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
    _row("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
    _row("2001::/32", "Teredo", "RFC 4380"),
    _row("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),  # IANA: globally reachable
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),  # IANA: global
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),  # IANA: global
    _row("2001:2::/48", "Benchmarking", "RFC 5180"),
    _row("2001:3::/32", "AMT", "RFC 7450"),  # IANA: globally reachable
    _row("2001:4:112::/48", "AS112-v6", "RFC 7535"),  # IANA: globally reachable
    _row("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
    _row("2001:20::/28", "ORCHIDv2", "RFC 7343"),  # IANA: globally reachable
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs)", "RFC 9374"),  # IANA: global
    _row("2001:db8::/32", "Documentation", "RFC 3849"),
    # Refused whole, whatever it embeds: 6to4 relays are deprecated (RFC 7526), no site needs one.
    _row("2002::/16", "6to4", "RFC 3056"),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),  # IANA: globally reachable
    _row("3fff::/20", "Documentation", "RFC 9637"),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    _row("fc00::/7", "Unique-Local", "RFC 4193"),
    _row("fe80::/10", "Link-Local Unicast", "RFC 4291"),
    _row("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
    _row("ff00::/8", "Multicast", "RFC 4291"),
)

_LOW32 = 0xFFFF_FFFF


def special_range(ip: IPv4Address | IPv6Address) -> SpecialRange | None:
    """The most specific row holding ``ip``, or None if it is a public address."""
    # Tables by version: ipaddress's ``in`` compares integers and would match across versions.
    table = IPV4_SPECIAL if isinstance(ip, IPv4Address) else IPV6_SPECIAL
    rows = [row for row in table if ip in row.prefix]
    return max(rows, key=lambda row: row.prefix.prefixlen, default=None)


def embedded_ipv4(ip: IPv6Address) -> tuple[tuple[str, IPv4Address], ...]:
    """The IPv4 addresses an IPv6 address carries, by transition form (bit layouts per RFC)."""
    n = int(ip)
    high96 = n >> 32
    if high96 == 0xFFFF:  # ::ffff:a.b.c.d
        return (("IPv4-mapped", IPv4Address(n & _LOW32)),)
    if high96 == 0xFFFF_0000:  # ::ffff:0:a.b.c.d
        return (("IPv4-translated", IPv4Address(n & _LOW32)),)
    if high96 == 0 and n & _LOW32 > 1:  # ::a.b.c.d; :: and ::1 are not compatible addresses
        return (("IPv4-compatible", IPv4Address(n & _LOW32)),)
    if high96 == 0x64_FF9B << 64:  # 64:ff9b::a.b.c.d
        return (("NAT64", IPv4Address(n & _LOW32)),)
    if n >> 112 == 0x2002:  # 2002:AABB:CCDD::/48
        return (("6to4", IPv4Address((n >> 80) & _LOW32)),)
    if n >> 96 == 0x2001_0000:  # 2001:0:server:flags:port:client, the client address inverted
        return (
            ("Teredo server", IPv4Address((n >> 64) & _LOW32)),
            ("Teredo client", IPv4Address(~n & _LOW32)),
        )
    return ()


def why_not_public(address: str) -> str | None:
    """Why ``address`` must not be reached, or None if it is a public address."""
    ip = ipaddress.ip_address(address)
    reasons = []
    row = special_range(ip)
    if row is not None:
        reasons.append(f"{row.name}, {row.rfc}")
    if isinstance(ip, IPv6Address):
        for form, carried in embedded_ipv4(ip):
            inner = special_range(carried)
            if inner is not None:
                reasons.append(f"{form} {carried}: {inner.name}, {inner.rfc}")
    return "; ".join(reasons) or None
