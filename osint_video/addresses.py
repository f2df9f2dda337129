"""Which network addresses URL intake may connect to.

A URL comes from whoever sent the tip, so `queue add` must not become a way to read the desk's
own network: the database, a Label Studio admin page, a cloud metadata service at
169.254.169.254. Only globally reachable unicast addresses are fetched, unless a network is
listed in `[queue] allow_networks` (a desk's internal mirror). The check is on the address a
socket actually connects to, whatever spelled it (`0x7f000001`, `2130706433`, `0177.0.0.1`,
`127.1`, `[::ffff:127.0.0.1]` and `localhost` all reach 127.0.0.1), and it runs on every
connection, so a redirect to a private address is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
HINT = "URL intake fetches public addresses only; see [queue] allow_networks"


class AddressRefused(ConnectionRefusedError):
    """A connection to an address the policy refuses (an OSError, so network code fails it)."""


def parse_networks(values: Iterable[str], where: str = "queue.allow_networks") -> tuple:
    """The networks of an allow-list setting (CIDR or single addresses).

    Raises:
        ConfigError: a value that is not a network.
    """
    out: list[IPNetwork] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"config option {where}: {value!r} is not a network (e.g. 10.1.2.0/24)"
            ) from None
    return tuple(out)


def _embedded(addr: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    found = [addr.ipv4_mapped, addr.sixtofour, *(addr.teredo or ())]
    if addr in NAT64 or int(addr) >> 32 == 0:
        found.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _kind(addr: IPAddress) -> str | None:
    """What makes `addr` non-public, or None for a global unicast address."""
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("private", addr.is_private),
        ("reserved", addr.is_reserved),
        ("non-public", not addr.is_global),
    )
    return next((name for name, hit in checks if hit), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Refuse non-public addresses, except those inside `allow`."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_setting(cls, values: Iterable[str]) -> AddressPolicy:
        return cls(parse_networks(values))

    def _allowed(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self.allow)

    def refusal(self, ip: str) -> str | None:
        """Why a connection to the address `ip` is refused ("a loopback address"), or None."""
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # fe80::1%eth0
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
        if self._allowed(addr):
            return None
        for candidate in (addr, *_embedded(addr)):
            kind = _kind(candidate)
            if kind is not None:
                via = "" if candidate == addr else f" (it carries {candidate})"
                return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address{via}"
        return None

    def check_host(self, host: str, port: int) -> None:
        """Resolve `host` and refuse it if ANY of its addresses is refused.

        Raises:
            AddressRefused: the message names the host, the address and why.
            OSError: the name does not resolve (socket.gaierror).
        """
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        self.check_infos(host, infos)

    def check_infos(self, host: str, infos: list) -> None:
        """Refuse a getaddrinfo() answer holding any refused address (see `check_host`)."""
        for family, *_rest, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                self.check_address(host, str(sockaddr[0]))

    def check_address(self, host: str, ip: str) -> None:
        """Refuse a connection to `ip` (which `host` named).

        Raises:
            AddressRefused: `ip` is not public and not allowed.
        """
        why = self.refusal(ip)
        if why is not None:
            named = f"{ip} is" if host.strip("[]") == ip else f"{host} resolves to {ip},"
            raise AddressRefused(f"refused: {named} {why}; {HINT}")
