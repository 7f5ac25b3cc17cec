"""Requests through a trusted reverse proxy: believe its X-Forwarded-* headers, and only its.

When TLS ends at a proxy (``web.trusted_proxies``, e.g. Caddy), the peer the daemon sees is the
proxy. For a peer in that list this ASGI middleware takes the client address from
X-Forwarded-For (the right-most address that is not itself a trusted proxy), the scheme from
X-Forwarded-Proto and the host from X-Forwarded-Host. From any other peer those headers are
ignored, so a client cannot claim another address.

Either way the direct peer and whether it was a proxy stay in the scope: a request relayed by a
proxy on this machine comes from 127.0.0.1 but must never count as a loopback caller
(``direct_loopback``), or every internet client of that proxy would see /metrics.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from cloudclaude.core.settings import parse_networks

Scope = MutableMapping[str, Any]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ASGIApp = Callable[..., Awaitable[None]]
VIA_PROXY = "cloudclaude.via_proxy"
MAX_FORWARDED_HOPS = 16


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, proxies: list[IPNetwork]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in proxies)


def _header(scope: Scope, name: bytes) -> str | None:
    """The last value of header ``name``: a proxy appends, so the last is the nearest one's."""
    found = None
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            found = value.decode("latin-1")
    return found


def _client(forwarded_for: str, peer: str, proxies: list[IPNetwork]) -> str:
    """The right-most address that is not a trusted proxy (the one the proxy actually saw)."""
    hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_FORWARDED_HOPS:]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a malformed list: trust nothing in it
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops and hops[0] else peer


class ForwardedMiddleware:
    """Rewrite client, scheme and host of requests from trusted proxies (see module doc)."""

    def __init__(self, app: ASGIApp, trusted_proxies: str) -> None:
        self._app = app
        self._proxies = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope[VIA_PROXY] = False
            client = scope.get("client")
            if self._proxies and client and _trusted(str(client[0]), self._proxies):
                self._rewrite(scope, str(client[0]))
        await self._app(scope, receive, send)

    def _rewrite(self, scope: Scope, peer: str) -> None:
        scope[VIA_PROXY] = True
        forwarded_for = _header(scope, b"x-forwarded-for")
        if forwarded_for:
            scope["client"] = (_client(forwarded_for, peer, self._proxies), 0)
        proto = (_header(scope, b"x-forwarded-proto") or "").strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        host = (_header(scope, b"x-forwarded-host") or "").strip()
        if host:
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"host"]
            scope["headers"] = [*headers, (b"host", host.encode("latin-1"))]


def via_proxy(scope: Mapping[str, object]) -> bool:
    """True when the request was relayed by a trusted proxy."""
    return bool(scope.get(VIA_PROXY, False))
