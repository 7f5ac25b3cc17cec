"""Exits (``egress_ips`` rows), a host's binding to one, and the exit summary a host carries.

An ``Exit`` holds only public fields: its secrets (password, uuid) stay sealed in the database
and appear here as masks. ``expected_resolvers`` is resolved to its default
``[dns_server, expected_ip]`` when the admin gave none, so the start pipeline never repeats
that rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import attrs

ExitKind = Literal["direct", "socks5", "http", "shadowsocks", "vmess", "vless", "trojan"]
ExitStatus = Literal["unverified", "ok", "failed"]
#: Fields whose values are sealed at rest and never shown in full.
SECRET_FIELDS: tuple[str, ...] = ("password", "uuid")
#: What a secret looks like in any answer: this prefix, then its last two characters.
MASK = "••••"


def mask(secret: str) -> str:
    """``••••`` plus the last two characters (only the prefix for short secrets)."""
    return MASK + secret[-2:] if len(secret) >= 8 else MASK


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)  # inet columns arrive as ipaddress objects


@attrs.frozen(kw_only=True)
class Exit:
    id: uuid.UUID
    label: str
    kind: ExitKind
    server: str | None
    port: int | None
    expected_ip: str | None = attrs.field(converter=_str_or_none)
    dns_server: str | None = attrs.field(converter=_str_or_none)
    #: As the admin set them; None means the default (see ``expected_resolvers``).
    configured_resolvers: tuple[str, ...] | None = attrs.field(converter=_tuple_or_none)
    verify_url: str | None
    verify_dns_name: str | None
    #: Kind options that are not secret (username, method, tls, …), as submitted.
    options: dict[str, Any] = attrs.field(factory=dict)
    #: Secret field name → its mask, for each secret stored.
    masked: dict[str, str] = attrs.field(factory=dict)
    status: ExitStatus = "unverified"
    last_verified_at: dt.datetime | None = None
    detected_ip: str | None = attrs.field(default=None, converter=_str_or_none)
    #: Hosts (not deleted) bound to this exit.
    bound_hosts: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def expected_resolvers(self) -> tuple[str, ...]:
        """The resolvers a DNS check may name: as set, else ``[dns_server, expected_ip]``."""
        if self.configured_resolvers is not None:
            return self.configured_resolvers
        return tuple(ip for ip in (self.dns_server, self.expected_ip) if ip)

    @property
    def verified(self) -> bool:
        """Hosts on this exit get their egress verified at every start (else "unverified")."""
        return bool(self.verify_url or self.verify_dns_name)

    def fields(self) -> dict[str, Any]:
        """The exit as it would be submitted, without its secrets (a base for partial edits)."""
        return submitted_fields(self, self.configured_resolvers)


class _ExitShape(Protocol):
    """What a stored and a submitted exit have in common (read-only)."""

    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def server(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def expected_ip(self) -> str | None: ...
    @property
    def dns_server(self) -> str | None: ...
    @property
    def verify_url(self) -> str | None: ...
    @property
    def verify_dns_name(self) -> str | None: ...


def submitted_fields(exit_: _ExitShape, resolvers: Sequence[str] | None) -> dict[str, Any]:
    """An exit's public fields as the API takes them (unset ones left out), stored or submitted."""
    out: dict[str, Any] = {
        "label": exit_.label,
        "kind": exit_.kind,
        "server": exit_.server,
        "port": exit_.port,
        **exit_.options,
        "expected_ip": exit_.expected_ip,
        "dns_server": exit_.dns_server,
        "expected_resolvers": list(resolvers) if resolvers is not None else None,
        "verify_url": exit_.verify_url,
        "verify_dns_name": exit_.verify_dns_name,
    }
    return {k: v for k, v in out.items() if v is not None}


@attrs.frozen(kw_only=True)
class ExitRef:
    """The exit a host is bound to, as host views show it."""

    id: uuid.UUID
    label: str
    kind: ExitKind
    verified: bool


def as_exit_ref(value: Any) -> ExitRef | None:
    """An ``ExitRef`` from the JSON object the hosts query attaches (None: no exit)."""
    if value is None or isinstance(value, ExitRef):
        return value
    return ExitRef(
        id=uuid.UUID(str(value["id"])),
        label=str(value["label"]),
        kind=value["kind"],
        verified=bool(value["verified"]),
    )


@attrs.frozen(kw_only=True)
class Binding:
    """One host's exit (``host_egress_bindings``), with the names humans recognise."""

    id: uuid.UUID
    host_id: uuid.UUID
    host_short_id: str
    egress_ip_id: uuid.UUID
    egress_label: str
    created_at: dt.datetime
