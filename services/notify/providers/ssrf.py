"""The SSRF guard: a URL a tenant typed must not make our servers call into our own network.

Merchant webhooks and the generic ``http`` provider POST to URLs chosen by tenants. Without a guard, a
tenant could aim them at ``http://169.254.169.254/`` (cloud metadata), ``http://127.0.0.1:5432`` or a
service on the private network and read or poke it through our workers. Two checks:

* :meth:`AddressGuard.check_syntax` at save time: an absolute ``https`` URL with a host and at most
  2048 characters (plain ``http`` only where private addresses are allowed, i.e. development), no
  user-info (credentials in a URL end up in logs).
* :meth:`AddressGuard.check` right before *each* request: the host is resolved and refused if ANY of its
  addresses is loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) or
  otherwise not globally routable, including IPv4-mapped/NAT64-embedded forms of those (``::ffff:127.0.0.1``).

DNS rebinding: checking at save time alone is useless (the name can point elsewhere later), so the
callers check before every request. What remains is the window between our resolution and the HTTP
client's own resolution a few milliseconds later: a hostile DNS server answering with a TTL of zero
could hand us a public address and the client a private one. Closing it fully means connecting to the
checked address (pinning) or an egress proxy that enforces the same rule; in production the workers
should sit behind such an egress policy (docs/notify.md). ``allowed_hosts`` lets operators name
internal receivers that are meant to be reached (an exact, case-insensitive host name match).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(Exception):
    """The URL is malformed or leads to an address we must not call."""


class Unresolvable(UnsafeUrl):
    """The host does not resolve right now: possibly transient (DNS outage), so callers may retry."""


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden(address: IPAddress) -> str | None:
    """Why ``address`` must not be called (``"loopback"``, ``"private"``...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            reason = forbidden(inner)
            return f"IPv4-embedded {reason}" if reason else None
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if flag:
            return reason
    return None


class AddressGuard:
    """Refuses URLs that lead into our own network, unless development allows it or the host is listed."""

    def __init__(self, allow_private: bool, allowed_hosts: frozenset[str] = frozenset()) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(host.lower().rstrip(".") for host in allowed_hosts)

    def check_syntax(self, url: str) -> str | None:
        """The fault of ``url`` as text for a 422 at save time, or None when it may be stored."""
        if not isinstance(url, str) or not url:
            return "must be a URL"
        if len(url) > MAX_URL_LENGTH:
            return f"must be at most {MAX_URL_LENGTH} characters"
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return "must be a valid absolute URL"
        allowed = ("https", "http") if self.allow_private else ("https",)
        if parts.scheme not in allowed:
            return "must be an https URL" if not self.allow_private else "must be an http(s) URL"
        if not parts.hostname:
            return "must name a host"
        if parts.username is not None or parts.password is not None:
            return "must not carry credentials"
        if any(ch.isspace() for ch in url):
            return "must not contain spaces"
        return None

    async def check(self, url: str) -> None:
        """Raise :class:`UnsafeUrl` unless every address ``url``'s host resolves to may be called.

        Called right before each request (see the module's note on DNS rebinding)."""
        fault = self.check_syntax(url)
        if fault is not None:
            raise UnsafeUrl(f"{url!r} {fault}")
        if self.allow_private:
            return
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if host.lower() in self.allowed_hosts:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Unresolvable(f"{host} does not resolve: {exc}") from exc
        if not infos:
            raise Unresolvable(f"{host} does not resolve")
        for *_, sockaddr in infos:
            text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
            address = ipaddress.ip_address(text)
            reason = forbidden(address)
            if reason is not None:
                raise UnsafeUrl(f"{host} resolves to {address}, a {reason} address")
