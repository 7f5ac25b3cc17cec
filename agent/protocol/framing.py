"""Length-prefixed frames on any ``trio.abc.Stream``: 4-byte big-endian length, then the body.

The length is checked against ``max_frame`` before a byte of the body is read, so an oversize
or garbage header costs the reader nothing. The daemon's control socket reuses this module.
"""

from __future__ import annotations

import struct

import trio

MAX_FRAME = 1 << 20
HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer broke the framing; the connection cannot be used any further."""


class FrameTooLarge(FrameError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit} bytes")
        self.length = length
        self.limit = limit


class IncompleteFrame(FrameError):
    """The stream ended in the middle of a frame."""


def encode_frame(body: bytes, max_frame: int = MAX_FRAME) -> bytes:
    if len(body) > max_frame:
        raise FrameTooLarge(len(body), max_frame)
    return HEADER.pack(len(body)) + body


async def send_frame(stream: trio.abc.SendStream, body: bytes, max_frame: int = MAX_FRAME) -> None:
    await stream.send_all(encode_frame(body, max_frame))


class FrameReader:
    """Reads whole frames from a stream, buffering partial reads."""

    def __init__(self, stream: trio.abc.ReceiveStream, max_frame: int = MAX_FRAME) -> None:
        self._stream = stream
        self._max_frame = max_frame
        self._buffer = bytearray()

    async def _fill(self, size: int) -> bool:
        """Buffer at least ``size`` bytes; False on EOF before that."""
        while len(self._buffer) < size:
            chunk = await self._stream.receive_some(max(65536, size - len(self._buffer)))
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def receive_frame(self) -> bytes | None:
        """The next frame's body, or None on a clean EOF between frames."""
        if not await self._fill(HEADER.size):
            if self._buffer:
                raise IncompleteFrame(f"stream ended inside a frame header ({len(self._buffer)} B)")
            return None
        (length,) = HEADER.unpack_from(self._buffer)
        if length > self._max_frame:
            raise FrameTooLarge(length, self._max_frame)
        if not await self._fill(HEADER.size + length):
            got = len(self._buffer) - HEADER.size
            raise IncompleteFrame(f"stream ended after {got} of {length} body bytes")
        body = bytes(self._buffer[HEADER.size : HEADER.size + length])
        del self._buffer[: HEADER.size + length]
        return body
