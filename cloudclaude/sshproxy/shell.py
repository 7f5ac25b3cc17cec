"""A trio-facing interactive shell on a host, for the web terminal (asyncio stays in here).

``open_shell`` logs in to the box like the proxy does and runs ``attach-claude`` under a pty,
so the browser lands in the same tmux session ``claude`` as ssh users.

Both directions are bounded, with backpressure instead of growth (DESIGN.md section 12.13):

- Output waits in a buffer of at most ``OUTPUT_HIGH`` bytes for the trio side. Past it the SSH
  channel stops reading: asyncssh then keeps at most the channel's window (``WINDOW``) and
  grants the box no more, so the box's sshd, and behind it whatever prints, blocks. Once the
  reader has drained the buffer to ``OUTPUT_LOW`` the channel reads again. A browser that
  stops reading stops the web terminal's ``send``, so it stops draining too.
- Input is written only while the channel's send buffer is under ``INPUT_HIGH`` (asyncssh's
  ``pause_writing``/``resume_writing``): a box that does not read its terminal holds ``send``,
  and with it the browser's frames in their own TCP connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncssh
import structlog
import trio
import trio_asyncio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.domain.hosts import Hosts
from cloudclaude.sshproxy.notice import TIMEOUT_S, tmux_notice
from cloudclaude.sshproxy.session import ATTACH, SESSION_MODES
from cloudclaude.sshproxy.upstream import connect_box

log = structlog.get_logger(component="sshproxy")

#: The SSH receive window of a web terminal's channel (what asyncssh may hold while paused).
WINDOW = 256 * 1024
#: Output buffered for the browser before the channel stops reading, and where it resumes.
OUTPUT_HIGH = 256 * 1024
OUTPUT_LOW = 64 * 1024
#: Input waiting for the box to read it before ``send`` waits.
INPUT_HIGH = 64 * 1024
#: The most one ``receive`` returns (one WebSocket frame).
CHUNK = 64 * 1024


class _Session(asyncssh.SSHClientSession[bytes]):
    """asyncssh's callbacks on one side, trio waits on the other (one thread, no locks)."""

    def __init__(self) -> None:
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._output = bytearray()
        self._paused = False
        self._closed = False
        self._readable = trio.Event()
        self._writable = trio.Event()
        self._writable.set()

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._output += data
        self._readable.set()
        if not self._paused and len(self._output) >= OUTPUT_HIGH and self._chan is not None:
            self._paused = True
            self._chan.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable = trio.Event()

    def resume_writing(self) -> None:
        self._writable.set()

    @property
    def buffered(self) -> int:
        return len(self._output)

    async def receive(self, max_bytes: int) -> bytes:
        while not self._output and not self._closed:
            self._readable = trio.Event()
            await self._readable.wait()
        data = bytes(self._output[:max_bytes])
        del self._output[:max_bytes]
        if self._paused and len(self._output) <= OUTPUT_LOW and self._chan is not None:
            self._paused = False
            self._chan.resume_reading()  # may hand over what asyncssh held at once
        return data

    async def writable(self) -> bool:
        """Wait until the box has read enough of the input; False once the session ended."""
        await self._writable.wait()
        return not self._closed


class ShellStream:
    """Bytes in and out of one interactive session; ``receive`` answers b"" at its end."""

    def __init__(self, chan: asyncssh.SSHClientChannel[bytes], session: _Session) -> None:
        self._chan = chan
        self._session = session

    async def send(self, data: bytes) -> None:
        """Type ``data``; waits while the box is not reading its terminal."""
        if await self._session.writable():
            self._chan.write(data)
        await trio.lowlevel.checkpoint()

    async def receive(self, max_bytes: int = CHUNK) -> bytes:
        return await self._session.receive(max_bytes)

    def resize(self, cols: int, rows: int) -> None:
        self._chan.change_terminal_size(cols, rows)

    @property
    def buffered(self) -> int:
        """Output bytes waiting for ``receive`` (at most ``OUTPUT_HIGH`` plus one window)."""
        return self._session.buffered


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
    notice: str = "",
) -> AsyncIterator[ShellStream]:
    """An ``attach-claude`` session on a running host (``mode``: "", "new" or "takeover").

    A ``notice`` is shown first on the tmux clients already in the box (an admin attaching).
    """
    if mode not in SESSION_MODES:
        raise ValueError(f"unknown session mode {mode!r}")
    conn = await trio_asyncio.aio_as_trio(connect_box)(agent, hosts, host_id)
    try:
        if notice:
            with trio.move_on_after(TIMEOUT_S + 1):
                try:
                    await trio_asyncio.aio_as_trio(tmux_notice)(conn, notice)
                except (OSError, asyncssh.Error) as exc:
                    log.warning("tmux_notice_failed", host_id=str(host_id), error=repr(exc))
        chan, session = await trio_asyncio.aio_as_trio(conn.create_session)(
            _Session,
            ATTACH + SESSION_MODES[mode],
            term_type=term,
            term_size=(cols, rows),
            encoding=None,
            window=WINDOW,
        )
        chan.set_write_buffer_limits(high=INPUT_HIGH)
        try:
            yield ShellStream(chan, session)
        finally:
            chan.close()
    finally:
        conn.close()
