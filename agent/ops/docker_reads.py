"""Bounded reads of dockerd's answers: whole bodies, progress lines, multiplexed output.

What dockerd sends back can come from a box (exec output, container logs) or grow with the
machine (lists), so nothing here reads "until the end" into memory: a body is read up to a cap,
a progress stream line by line with a cap per line, and multiplexed output into sinks that keep
either the first or the newest bytes. The caller decides what going over a cap means.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

from agent import errors

_STREAM_HEADER = struct.Struct(">BxxxI")


def too_large(what: str, cap: int) -> errors.AgentError:
    return errors.AgentError(
        errors.DOCKER_REPLY_TOO_LARGE, f"dockerd's answer to {what} is over {cap} bytes"
    )


async def read_capped(chunks: AsyncIterator[bytes], cap: int, what: str) -> bytes:
    """A whole body of at most ``cap`` bytes; past it, ``DOCKER_REPLY_TOO_LARGE``."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise too_large(what, cap)
    return bytes(body)


class Lines:
    """Splits a stream into lines, none longer than ``cap`` (``DOCKER_REPLY_TOO_LARGE``)."""

    def __init__(self, cap: int, what: str) -> None:
        self._cap = cap
        self._what = what
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._pending += chunk
        *lines, rest = self._pending.split(b"\n")
        if len(rest) > self._cap or any(len(line) > self._cap for line in lines):
            raise too_large(f"{self._what} (one line)", self._cap)
        self._pending = bytearray(rest)
        return [bytes(line) for line in lines]

    def finish(self) -> list[bytes]:
        rest, self._pending = bytes(self._pending), bytearray()
        return [rest] if rest else []


class Head:
    """Keeps the first ``cap`` bytes and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen = 0
        self._data = bytearray()

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        room = self.cap - len(self._data)
        if room > 0:
            self._data += data[:room]

    @property
    def cut(self) -> bool:
        return self.seen > self.cap

    def value(self) -> bytes:
        return bytes(self._data)


class Tail:
    """Keeps the newest ``cap`` bytes (a log's end matters most) and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen = 0
        self._data = bytearray()

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        self._data += data[-self.cap :]
        if len(self._data) > 2 * self.cap:
            del self._data[: -self.cap]

    @property
    def cut(self) -> bool:
        return self.seen > self.cap

    def value(self) -> bytes:
        return bytes(self._data[-self.cap :])


class Demux:
    """Docker's multiplexed stream (8-byte headers: stream id, length), fed chunk by chunk.

    Stream 2 is stderr, anything else stdout. ``total`` counts the payload bytes seen, kept or
    not, so a caller can stop reading once a budget for both streams is spent.
    """

    def __init__(self, out: Head | Tail, err: Head | Tail) -> None:
        self.out = out
        self.err = err
        self.total = 0
        self._header = bytearray()
        self._left = 0
        self._stream = 1

    def feed(self, chunk: bytes) -> None:
        at = 0
        while at < len(chunk):
            if self._left == 0:
                need = _STREAM_HEADER.size - len(self._header)
                self._header += chunk[at : at + need]
                at += need
                if len(self._header) < _STREAM_HEADER.size:
                    return
                self._stream, self._left = _STREAM_HEADER.unpack(self._header)
                self._header.clear()
                continue
            piece = chunk[at : at + self._left]
            at += len(piece)
            self._left -= len(piece)
            self.total += len(piece)
            (self.err if self._stream == 2 else self.out).add(piece)


def demultiplex(data: bytes) -> tuple[bytes, bytes]:
    """Split a whole multiplexed answer into out and err (a cut-off last frame is dropped)."""
    demux = Demux(Head(len(data)), Head(len(data)))
    demux.feed(data)
    return demux.out.value(), demux.err.value()
