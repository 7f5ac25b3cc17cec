"""One handler per request type; a handler may report progress before its final reply."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import attrs

from agent import errors
from agent.protocol import messages as m

ReportProgress = Callable[[str, int, str], Awaitable[None]]


@attrs.frozen
class SocketReply:
    """A reply that carries a socket to the caller (``OpenPort``, ``OpenLlmListener``)."""

    reply: m.PortOpened | m.LlmListenerOpened
    sock: socket.socket


#: The socket passed with the request being handled (``m.TAKES_SOCKET`` requests only).
passed_socket: ContextVar[socket.socket | None] = ContextVar("passed_socket", default=None)


def the_passed_socket() -> socket.socket:
    """The socket that came with this request; the server closes it after the handler."""
    sock = passed_socket.get()
    if sock is None:
        raise errors.AgentError(errors.PROTOCOL_ERROR, "this request needs a socket passed with it")
    return sock


Handler = Callable[[Any, ReportProgress], Awaitable[m.Reply | SocketReply]]

AGENT_VERSION = "0.1.0"


class Dispatcher:
    def __init__(self) -> None:
        self._handlers: dict[type[Any], Handler] = {}
        self.started = time.monotonic()
        self.register(m.Ping, self._ping)

    def register(self, request_type: type[Any], handler: Handler) -> None:
        self._handlers[request_type] = handler

    def handler_for(self, request: m.Request) -> Handler | None:
        return self._handlers.get(type(request))

    async def _ping(self, request: m.Ping, _progress: ReportProgress) -> m.Reply:
        return m.Pong(
            id=request.id,
            agent_version=AGENT_VERSION,
            uptime_s=round(time.monotonic() - self.started, 3),
        )
