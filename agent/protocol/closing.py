"""Ending a Unix-socket connection with a last frame the peer can still read.

Closing a Unix socket whose input was not read resets it, and the peer loses whatever was sent
last (a refusal, a protocol error). So: send the frame, shut down our side, discard what the
peer still sends (bounded in bytes and time), then close.
"""

from __future__ import annotations

import contextlib

import trio

from agent.protocol.framing import send_frame

DRAIN_TIMEOUT_S = 1.0
DRAIN_LIMIT = 1 << 20


async def send_final_frame(stream: trio.SocketStream, body: bytes, max_frame: int) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        await send_frame(stream, body, max_frame)
        await stream.send_eof()
        with trio.move_on_after(DRAIN_TIMEOUT_S):
            drained = 0
            while drained < DRAIN_LIMIT and (chunk := await stream.receive_some(65536)):
                drained += len(chunk)
