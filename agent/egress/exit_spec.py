"""An exit as the agent takes it: checked before any plumbing, its server resolved once.

The host resolves the exit server's name, once per setup, so sing-box and the firewall agree
on the one address the gateway may reach (a gateway has no resolver of its own).
"""

from __future__ import annotations

import ipaddress
import socket

import trio

from agent.errors import (
    EXIT_INVALID,
    EXIT_SERVER_UNRESOLVABLE,
    VALIDATION_FAILED,
    AgentError,
)
from agent.protocol import messages as m
from agent.protocol.domains import DomainError, normalize_domains


def check_exit(spec: m.ExitSpec) -> None:
    if spec.kind not in m.EXIT_KINDS:
        raise AgentError(EXIT_INVALID, f"unknown exit kind {spec.kind!r}")
    if spec.kind != "direct" and (not spec.server or not 1 <= spec.port <= 65535):
        raise AgentError(EXIT_INVALID, f"a {spec.kind} exit needs a server and a port")
    try:
        ipaddress.IPv4Address(spec.dns_server)
    except ValueError as exc:
        raise AgentError(EXIT_INVALID, f"dns_server {spec.dns_server!r} is no IPv4") from exc


def check_domains(domains: list[str]) -> list[str]:
    try:
        return normalize_domains(domains)
    except DomainError as exc:
        raise AgentError(VALIDATION_FAILED, str(exc)) from exc


async def resolve_server(spec: m.ExitSpec) -> str:
    """The exit server's IPv4 address (resolved by the host once; sing-box dials that)."""
    if spec.kind == "direct":
        return ""
    try:
        return str(ipaddress.IPv4Address(spec.server))
    except ValueError:
        pass
    try:
        found = await trio.socket.getaddrinfo(
            spec.server, spec.port, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise AgentError(EXIT_SERVER_UNRESOLVABLE, f"{spec.server}: {exc}") from exc
    if not found:
        raise AgentError(EXIT_SERVER_UNRESOLVABLE, f"{spec.server} has no IPv4 address")
    return str(found[0][4][0])
