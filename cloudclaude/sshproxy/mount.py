"""The checkout mount's channel: subsystem ``cloudclaude-mount``, SFTP from the laptop.

``cloud-claude`` serves the user's checkout over SFTP on its own side of this channel (reverse
sshfs: the box never connects to the laptop), and names the absolute path in the environment
(``CLOUDCLAUDE_MOUNT_PATH``). The proxy asks the agent to mount it there in the box
(``host.mount_checkout``, which validates the path and runs sshfs without root) and passes
the agent one end of a socket pair; the channel and the other end are relayed like any session
(the same flow control). When the channel ends, the mount is taken down: a passive sshfs
dies with its stream, and a dead mount would only answer "Transport endpoint is not connected".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import asyncssh
import structlog

from cloudclaude.agent_client.client import AgentError
from cloudclaude.errors import CloudClaudeError, by_code
from cloudclaude.sshproxy.bridge import in_trio, spawn

if TYPE_CHECKING:
    from cloudclaude.sshproxy.server import ProxyConnection
    from cloudclaude.sshproxy.session import UpstreamSession

log = structlog.get_logger(component="sshproxy")
SUBSYSTEM = "cloudclaude-mount"
PATH_ENV = "CLOUDCLAUDE_MOUNT_PATH"
#: The line (then the path) on the channel's stderr once the mount is in place in the box:
#: the client starts Claude Code only then (``cloudclaude.client.mount_channel`` waits for it).
READY = "mounted"
#: Longest path accepted from the client before the agent's own checks.
MAX_PATH = 1024


class _SocketSide(asyncio.Protocol):
    """sshfs's side (through the agent's socket): what it sends goes to the client."""

    def __init__(self, up: UpstreamSession) -> None:
        self.up = up

    def data_received(self, data: bytes) -> None:
        self.up.data_received(data, None)

    def eof_received(self) -> bool:
        self.up.eof_received()
        return True

    def pause_writing(self) -> None:
        self.up.pause_writing()

    def resume_writing(self) -> None:
        self.up.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.up.exit_status = 0 if exc is None else 1
        self.up.connection_lost(exc)


class MountChannel:
    """The upstream of a mount session: the calls a relayed session makes on a box's channel,
    onto the socket whose other end sshfs reads. Closing it takes the mount down."""

    def __init__(self, transport: asyncio.Transport, on_close: Callable[[], None]) -> None:
        self._transport = transport
        self._on_close: Callable[[], None] | None = on_close

    def write(self, data: bytes, datatype: asyncssh.DataType = None) -> None:
        self._transport.write(data)

    def write_eof(self) -> None:
        if self._transport.can_write_eof():
            self._transport.write_eof()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def change_terminal_size(self, *_: int) -> None:
        """No terminal on a mount channel."""

    def send_signal(self, _signal: str) -> None:
        """Nothing to signal: sshfs is the agent's."""

    def send_break(self, _msec: int) -> None:
        """Nothing to break."""

    def close(self) -> None:
        self._transport.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


def requested_path(env: Mapping[str, str]) -> str:
    """The mount point the client names; the agent checks it fully, this only bounds it."""
    path = env.get(PATH_ENV, "")
    if not path or len(path) > MAX_PATH or not path.startswith("/"):
        raise CloudClaudeError(
            "validation_failed",
            f"the mount channel needs {PATH_ENV}, an absolute path of at most {MAX_PATH} bytes",
        )
    return path


async def open_mount(
    conn: ProxyConnection, say: Callable[[str], None], up: UpstreamSession, env: Mapping[str, str]
) -> MountChannel:
    """Mount the client's checkout in its box (started first if need be); the channel's
    upstream."""
    path = requested_path(env)
    host_id, agent = str((await conn.reach_host(say)).id), conn.agent
    ours, theirs = socket.socketpair()
    try:
        sshfs_pid = await in_trio(agent.mount_checkout, host_id, path, theirs)
    except AgentError as exc:
        ours.close()
        entry = by_code(exc.code)
        raise CloudClaudeError(entry.slug if entry else "agent_unavailable", exc.message) from None
    finally:
        theirs.close()  # the agent has its own copy now
    log.info("checkout_mounted", host_id=host_id, path=path)
    say(f"{READY} {path}")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(lambda: _SocketSide(up), sock=ours)
    assert isinstance(transport, asyncio.Transport)

    async def unmount() -> None:
        try:
            await in_trio(agent.unmount_checkout, host_id, path, sshfs_pid)
        except AgentError as exc:
            log.warning("checkout_unmount_failed", host_id=host_id, code=exc.code)
        else:
            log.info("checkout_unmounted", host_id=host_id, path=path)

    def closed() -> None:
        spawn(unmount(), "checkout unmount")

    return MountChannel(transport, closed)
