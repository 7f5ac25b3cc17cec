"""Agent protocol messages: frozen keyword-only attrs classes, tagged by ``"op"``.

A connection starts with ``Hello``/``HelloReply``; then every request carries an ``id`` that its
replies repeat, so several requests run at once on one connection. Long operations send
``Progress`` replies before their final one. Later features add their requests here.
"""

from __future__ import annotations

from typing import Any

import attrs
from cattrs.strategies import configure_tagged_union

from agent.protocol.codec import strict_converter

PROTOCOL_VERSION = 1


@attrs.frozen(kw_only=True)
class Hello:
    protocol_version: int
    client: str = ""


@attrs.frozen(kw_only=True)
class HelloReply:
    protocol_version: int
    agent_version: str


@attrs.frozen(kw_only=True)
class Ping:
    """Liveness: the agent answers ``Pong`` with its version and uptime."""

    id: int


@attrs.frozen(kw_only=True)
class Pong:
    id: int
    agent_version: str
    uptime_s: float


@attrs.frozen(kw_only=True)
class Progress:
    id: int
    stage: str
    percent: int = 0
    message: str = ""


@attrs.frozen(kw_only=True)
class ErrorReply:
    """A failed request (``id`` None when the request could not be read at all)."""

    id: int | None
    code: str
    message: str


Request = Ping
Reply = Pong | Progress | ErrorReply

_OPS: dict[type[Any], str] = {
    Hello: "hello",
    HelloReply: "hello.reply",
    Ping: "ping",
    Pong: "pong",
    Progress: "progress",
    ErrorReply: "error",
}

converter = strict_converter()
# One union holds every message, so each side decodes any frame with one call.
Message = Hello | HelloReply | Ping | Pong | Progress | ErrorReply
configure_tagged_union(Message, converter, tag_generator=lambda cls: _OPS[cls], tag_name="op")


def op_name(message_type: type[Any]) -> str:
    return _OPS[message_type]
