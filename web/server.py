"""The web component: hypercorn serving the Quart app inside the supervisor's nursery."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from cloudclaude.core.settings import WebSettings


class WebServer:
    name = "web"

    def __init__(self, app: QuartTrio, settings: WebSettings, stopping: trio.Event) -> None:
        self._app = app
        self._settings = settings
        self._stopping = stopping
        self.binds: list[str] = []

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
        await serve(
            self._app, self.config(), shutdown_trigger=self._stopping.wait, task_status=task_status
        )
