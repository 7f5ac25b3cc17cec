"""A trio-facing interactive shell on a host, for the web terminal (asyncio stays in here).

``open_shell`` logs in to the box like the proxy does and runs ``attach-claude`` under a pty,
so the browser lands in the same tmux session ``claude`` as ssh users. Output is queued for the
trio side (a terminal's output is bounded by what tmux redraws); typing and resizes go straight
to the channel.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncssh
import trio
import trio_asyncio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.domain.hosts import Hosts
from cloudclaude.sshproxy.session import ATTACH, SESSION_MODES
from cloudclaude.sshproxy.upstream import connect_box


class _Output(asyncssh.SSHClientSession[bytes]):
    def __init__(self, sink: trio.MemorySendChannel[bytes]) -> None:
        self._sink = sink

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._sink.send_nowait(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink.close()


class ShellStream:
    """Bytes in and out of one interactive session; ``receive`` answers b"" at its end."""

    def __init__(
        self, chan: asyncssh.SSHClientChannel[bytes], output: trio.MemoryReceiveChannel[bytes]
    ) -> None:
        self._chan = chan
        self._output = output

    async def send(self, data: bytes) -> None:
        self._chan.write(data)
        await trio.lowlevel.checkpoint()

    async def receive(self) -> bytes:
        try:
            return await self._output.receive()
        except trio.EndOfChannel:
            return b""

    def resize(self, cols: int, rows: int) -> None:
        self._chan.change_terminal_size(cols, rows)


@asynccontextmanager
async def open_shell(
    agent: Agent,
    hosts: Hosts,
    host_id: uuid.UUID,
    *,
    cols: int,
    rows: int,
    term: str = "xterm-256color",
    mode: str = "",
) -> AsyncIterator[ShellStream]:
    """An ``attach-claude`` session on a running host (``mode``: "", "new" or "takeover")."""
    if mode not in SESSION_MODES:
        raise ValueError(f"unknown session mode {mode!r}")
    sink, output = trio.open_memory_channel[bytes](math.inf)
    conn = await trio_asyncio.aio_as_trio(connect_box)(agent, hosts, host_id)
    try:
        chan, _ = await trio_asyncio.aio_as_trio(conn.create_session)(
            lambda: _Output(sink),
            ATTACH + SESSION_MODES[mode],
            term_type=term,
            term_size=(cols, rows),
            encoding=None,
        )
        try:
            yield ShellStream(chan, output)
        finally:
            chan.close()
    finally:
        conn.close()
