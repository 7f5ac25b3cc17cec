"""The web component: hypercorn serving the Quart app inside the supervisor's nursery.

At most ``web.max_connections`` connections are served at once; past it a new connection is
closed as soon as it is accepted. hypercorn has no such setting, so its per-connection handler
(``hypercorn.trio.run.TCPServer``) is wrapped once, and the wrapper finds the cap of the server
that accepted the connection through a context variable set around ``serve``.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import attrs
import hypercorn.trio.run as hypercorn_run
import structlog
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from cloudclaude.core.settings import WebSettings

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
        await _TCPServer(*args)
    finally:
        if cap is not None:
            cap.open -= 1


setattr(hypercorn_run, "TCPServer", _capped_connection)  # noqa: B010 (no typed way)


class WebServer:
    name = "web"

    def __init__(self, app: QuartTrio, settings: WebSettings, stopping: trio.Event) -> None:
        self._app = app
        self._settings = settings
        self._stopping = stopping
        self.binds: list[str] = []
        self.cap = ConnectionCap(settings.max_connections)

    def config(self) -> Config:
        config = Config()
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
