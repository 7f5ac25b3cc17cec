"""The session's messages: the ``Hello`` exchange, liveness, progress, errors, plain answers.

Every domain's requests share these replies; ``agent.protocol.messages`` joins the domains.
"""

from __future__ import annotations

from typing import Any

import attrs

#: 2: no caller-chosen image, mounts or resolver in ``BoxSpec``; no ``host.exec``.
#: 3: ``home.export`` / ``home.import`` (a socket passed with the request); the Claude Code
#: version in ``image.ensure`` and ``host.create``.
#: 4: the extra Debian packages in ``image.ensure`` and ``host.create``; disk use in
#: ``host.stats``.
#: 5: ``egress.llm_listener`` (the credentials endpoint's socket, passed with the reply).
#: 6: ``ExitSpec.udp`` (false: the gateway refuses and counts the box's UDP); DNS through
#: every proxy exit over TCP; ``egress.probe`` reports UDP through the exit (``udp_*``).
#: 7: ``host.mount_checkout`` (a socket passed with the request) / ``host.unmount_checkout``.
PROTOCOL_VERSION = 7


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


@attrs.frozen(kw_only=True)
class Done:
    id: int
    changed: bool


#: The ``op`` tag of each message on the wire.
OPS: dict[type[Any], str] = {
    Hello: "hello",
    HelloReply: "hello.reply",
    Ping: "ping",
    Pong: "pong",
    Progress: "progress",
    ErrorReply: "error",
    Done: "done",
}
