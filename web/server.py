"""The web component: hypercorn serving the Quart app inside the supervisor's nursery.

With TLS (``ServerTls``), hypercorn gets the context ``ServerTls`` keeps, so a SIGHUP reload
changes the certificate of new handshakes. Before the handshake each connection's first bytes
are peeked at: plain HTTP sent to the TLS port gets a 400 saying to use https:// instead of an
empty reply.

At most ``web.max_connections`` connections are served at once; past it a new connection is
closed as soon as it is accepted. hypercorn has no such setting, so its per-connection handler
(``hypercorn.trio.run.TCPServer``) is wrapped once, and the wrapper finds the cap of the server
that accepted the connection through a context variable set around ``serve``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import socket
import ssl
from typing import Any

import attrs
import hypercorn.trio.run as hypercorn_run
import structlog
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from cloudclaude.core.settings import WebSettings
from cloudclaude.core.tls import ServerTls
from cloudclaude.errors import CloudClaudeError, system

log = structlog.get_logger(component="web")


@attrs.define
class ConnectionCap:
    """Open connections of one listener, and how many it allows."""

    limit: int
    open: int = 0


_CAP: contextvars.ContextVar[ConnectionCap | None] = contextvars.ContextVar(
    "cloudclaude_web_cap", default=None
)
_TCPServer = hypercorn_run.TCPServer  # type: ignore[attr-defined]


#: How long a new TLS connection may take to send its first byte.
FIRST_BYTE_TIMEOUT_S = 10.0
TLS_HANDSHAKE = 0x16
PLAIN_HTTP_DRAIN_MAX = 65_536


def _plain_http_reply() -> bytes:
    body = json.dumps(CloudClaudeError(system.PLAIN_HTTP_TO_TLS).body()).encode() + b"\n"
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _is_tls(stream: trio.SSLStream[trio.SocketStream]) -> bool:
    """Peek at the first byte: a TLS handshake goes on; plain HTTP gets a 400 and is closed."""
    raw = stream.transport_stream
    first = b""
    with trio.move_on_after(FIRST_BYTE_TIMEOUT_S):
        first = await raw.socket.recv(1, socket.MSG_PEEK)
    if first and first[0] == TLS_HANDSHAKE:
        return True
    if first.isalpha():  # an HTTP method
        with trio.move_on_after(5), contextlib.suppress(trio.BrokenResourceError, OSError):
            await raw.send_all(_plain_http_reply())
            await raw.send_eof()
            # Read what the client sent (bounded): closing with unread bytes would reset the
            # connection, and the client might lose the answer.
            drained = 0
            while drained < PLAIN_HTTP_DRAIN_MAX and (data := await raw.receive_some(4096)):
                drained += len(data)
    await trio.aclose_forcefully(raw)
    return False


async def _capped_connection(*args: Any) -> None:
    """hypercorn's connection handler, or an immediate close past the cap."""
    cap = _CAP.get()
    stream = args[-1]
    if cap is not None and cap.open >= cap.limit:
        log.warning("web_connection_cap", limit=cap.limit)
        await trio.aclose_forcefully(stream)
        return
    if cap is not None:
        cap.open += 1
    try:
        if isinstance(stream, trio.SSLStream) and not await _is_tls(stream):
            return
        await _TCPServer(*args)
    finally:
        if cap is not None:
            cap.open -= 1


setattr(hypercorn_run, "TCPServer", _capped_connection)  # noqa: B010 (no typed way)


class _KeptContextConfig(Config):
    """hypercorn's config, handing out the one context ``ServerTls`` reloads in place."""

    def __init__(self, tls: ServerTls) -> None:
        super().__init__()
        self._tls = tls
        self.certfile = str(tls.cert_path)  # makes hypercorn listen with TLS
        self.keyfile = str(tls.key_path)

    def create_ssl_context(self) -> ssl.SSLContext | None:
        return self._tls.context


class WebServer:
    name = "web"

    def __init__(
        self,
        app: QuartTrio,
        settings: WebSettings,
        stopping: trio.Event,
        tls: ServerTls | None = None,
    ) -> None:
        self._app = app
        self._settings = settings
        self._stopping = stopping
        self._tls = tls
        self.binds: list[str] = []
        self.cap = ConnectionCap(settings.max_connections)

    def config(self) -> Config:
        config = Config() if self._tls is None else _KeptContextConfig(self._tls)
        host = self._settings.host
        config.bind = [
            f"[{host}]:{self._settings.port}" if ":" in host else f"{host}:{self._settings.port}"
        ]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.graceful_timeout = 5.0
        return config

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.binds = await nursery.start(self._serve)
            task_status.started()

    async def _serve(self, *, task_status: trio.TaskStatus[list[str]]) -> None:
        _CAP.set(self.cap)  # this task's context: inherited by hypercorn's connection tasks
        await serve(
            self._app, self.config(), shutdown_trigger=self._stopping.wait, task_status=task_status
        )
