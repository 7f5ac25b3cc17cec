"""The control server on a scratch socket, and the real ``cloudclaudectl`` against it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import Settings
from cloudclaude.ctl.server import CtlServer
from tests.integration import pg
from tests.integration.processes import BIN


@asynccontextmanager
async def open_ctl_server(settings: Settings, services: Services) -> AsyncIterator[CtlServer]:
    sock_dir = pg.scratch_dir("cc-ctl-")
    sock_dir.chmod(0o777)
    # World-connectable on purpose: only the peer-credential check may refuse a caller.
    ctl_settings = attrs.evolve(
        settings.ctl, socket=str(sock_dir / "ctl.sock"), socket_mode=0o777, group="nogroup-x"
    )
    stopping = trio.Event()
    server = CtlServer(services, ctl_settings, stopping)
    services.status.set("ctl", "running")
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            yield server
            stopping.set()
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)


async def ctl_run(
    server: CtlServer, *argv: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """The real ``cloudclaudectl ARGV`` against ``server``."""
    return await trio.run_process(
        [str(BIN / "cloudclaudectl"), "--socket", str(server.path), *argv],
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
