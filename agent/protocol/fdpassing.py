"""How a socket made by the agent reaches the daemon with its reply.

- socket mode: the reply frame is sent with the socket's fd attached (``SCM_RIGHTS``) on a
  connection that carries only that one request, so an fd can never be matched to the wrong
  frame; the client reads that frame with ``recvmsg`` (a plain read would drop the fd).
- embedded mode: agent and daemon share a process, so the socket object is handed over
  directly through a ``SocketHandoff`` keyed by request id.
"""

from __future__ import annotations

import array
import socket

import trio

from agent.protocol.framing import HEADER, FrameTooLarge, IncompleteFrame, encode_frame

_FD_SPACE = socket.CMSG_SPACE(array.array("i", [0]).itemsize * 4)
#: After an oversized frame, at most this much input (and this long) is read and dropped.
DRAIN_MAX = 1 << 20
DRAIN_S = 0.2


def close_fds(fds: list[int]) -> None:
    """Close fds that arrived but are not wanted (or not taken)."""
    for fd in fds:
        socket.close(fd)


class SocketHandoff:
    """Sockets waiting for their reply to be read (embedded mode)."""

    def __init__(self) -> None:
        self._waiting: dict[int, socket.socket] = {}

    def put(self, request_id: int, sock: socket.socket) -> None:
        self._waiting[request_id] = sock

    def take(self, request_id: int) -> socket.socket | None:
        return self._waiting.pop(request_id, None)


async def send_frame_with_fd(sock: trio.socket.SocketType, body: bytes, fd: int) -> None:
    """Send one frame with ``fd`` attached to its first byte."""
    data = encode_frame(body)
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())]
    sent = await sock.sendmsg([data], rights)
    view = memoryview(data)[sent:]
    while view:
        sent = await sock.send(view)
        view = view[sent:]


async def receive_frame_with_fds(
    sock: trio.socket.SocketType, max_frame: int
) -> tuple[bytes | None, list[int]]:
    """One frame and every fd that arrived with it (None at a clean EOF before a frame)."""
    data = bytearray()
    fds: list[int] = []
    needed = HEADER.size
    length: int | None = None
    while len(data) < needed:
        chunk, ancillary, _flags, _addr = await sock.recvmsg(needed - len(data), _FD_SPACE)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % array.array("i").itemsize
                fds.extend(array.array("i", payload[:usable]))
        if not chunk:
            close_fds(fds)
            if not data:
                return None, []
            raise IncompleteFrame("the stream ended in the middle of a frame")
        data.extend(chunk)
        if length is None and len(data) >= HEADER.size:
            (length,) = HEADER.unpack_from(data)
            if length > max_frame:
                close_fds(fds)
                raise FrameTooLarge(length, max_frame)
            needed = HEADER.size + length
    return bytes(data[HEADER.size :]), fds


class FdFrameReader:
    """Frames read with ``recvmsg`` (so an fd sent with a frame is kept until ``take_fds``).

    The agent reads its Unix-socket connections this way: a request that carries a socket
    (``TAKES_SOCKET``) finds it here; fds that arrive with any other frame are closed.
    """

    def __init__(self, sock: trio.socket.SocketType, max_frame: int) -> None:
        self._sock = sock
        self._max_frame = max_frame
        self._fds: list[int] = []

    async def receive_frame(self) -> bytes | None:
        self.close_fds()
        try:
            body, self._fds = await receive_frame_with_fds(self._sock, self._max_frame)
        except FrameTooLarge:
            await self._drain()
            raise
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        return body

    async def _drain(self) -> None:
        """Read what the peer already sent (bounded), so the close that follows is seen as a
        close: a Unix socket closed with unread input makes the peer's read fail."""
        left = DRAIN_MAX
        with trio.move_on_after(DRAIN_S):
            while left > 0:
                with trio.move_on_after(0.01) as idle:
                    chunk = await self._sock.recv(min(65536, left))
                if idle.cancelled_caught or not chunk:
                    return
                left -= len(chunk)

    def take_fds(self) -> list[int]:
        fds, self._fds = self._fds, []
        return fds

    def close_fds(self) -> None:
        close_fds(self.take_fds())
