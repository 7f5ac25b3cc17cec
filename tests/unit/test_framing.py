"""Length-prefixed framing (agent/protocol/framing.py) over in-memory trio streams."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from agent.protocol.framing import (
    FrameReader,
    FrameTooLarge,
    IncompleteFrame,
    encode_frame,
    send_frame,
)


class ScriptedStream(trio.abc.ReceiveStream):
    """Hands out ``data`` at most ``chunk`` bytes per read, then EOF; counts bytes consumed."""

    def __init__(self, data: bytes, chunk: int = 1) -> None:
        self._data = data
        self._chunk = chunk
        self.consumed = 0

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        size = self._chunk if max_bytes is None else min(self._chunk, max_bytes)
        piece = self._data[self.consumed : self.consumed + size]
        self.consumed += len(piece)
        return piece

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def header(length: int) -> bytes:
    return struct.pack(">I", length)


async def test_round_trip_over_memory_stream() -> None:
    left, right = trio.testing.memory_stream_pair()
    await send_frame(left, b'{"op": "status"}')
    assert await FrameReader(right).receive_frame() == b'{"op": "status"}'


def test_encode_frame_prefixes_big_endian_length() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"


async def test_frame_delivered_byte_by_byte_is_reassembled() -> None:
    body = b"x" * 300
    stream = ScriptedStream(encode_frame(body), chunk=1)
    assert await FrameReader(stream).receive_frame() == body


async def test_empty_body_frame() -> None:
    stream = ScriptedStream(encode_frame(b""), chunk=1)
    reader = FrameReader(stream)
    assert await reader.receive_frame() == b""
    assert await reader.receive_frame() is None


async def test_oversize_header_raises_before_body_is_read() -> None:
    stream = ScriptedStream(header(101) + b"y" * 101, chunk=1)
    with pytest.raises(FrameTooLarge) as info:
        await FrameReader(stream, max_frame=100).receive_frame()
    assert info.value.length == 101
    assert info.value.limit == 100
    assert stream.consumed == 4


async def test_oversize_header_without_body_does_not_wait() -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(header(1 << 30))
    with trio.fail_after(1), pytest.raises(FrameTooLarge):
        await FrameReader(right).receive_frame()


async def test_frame_at_limit_is_accepted() -> None:
    stream = ScriptedStream(encode_frame(b"z" * 100), chunk=7)
    assert await FrameReader(stream, max_frame=100).receive_frame() == b"z" * 100


def test_encode_frame_refuses_oversize_body() -> None:
    with pytest.raises(FrameTooLarge):
        encode_frame(b"a" * 11, max_frame=10)


async def test_eof_mid_header_raises_incomplete() -> None:
    stream = ScriptedStream(b"\x00\x00", chunk=1)
    with pytest.raises(IncompleteFrame, match="header"):
        await FrameReader(stream).receive_frame()


async def test_eof_mid_body_raises_incomplete() -> None:
    stream = ScriptedStream(header(10) + b"abc", chunk=2)
    with pytest.raises(IncompleteFrame, match="3 of 10"):
        await FrameReader(stream).receive_frame()


async def test_clean_eof_returns_none() -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.aclose()
    assert await FrameReader(right).receive_frame() is None


async def test_back_to_back_frames_in_one_chunk() -> None:
    bodies = [b"one", b"", b"three" * 50]
    data = b"".join(encode_frame(b) for b in bodies)
    reader = FrameReader(ScriptedStream(data, chunk=len(data)))
    assert [await reader.receive_frame() for _ in bodies] == bodies
    assert await reader.receive_frame() is None


async def test_back_to_back_frames_in_odd_chunks() -> None:
    bodies = [b"alpha", b"beta", b"gamma"]
    data = b"".join(encode_frame(b) for b in bodies)
    reader = FrameReader(ScriptedStream(data, chunk=3))
    assert [await reader.receive_frame() for _ in bodies] == bodies
    assert await reader.receive_frame() is None
