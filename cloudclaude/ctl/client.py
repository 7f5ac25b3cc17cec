"""The control-socket client: connect, send one request, read the reply frames."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

from agent.protocol.framing import FrameError, FrameReader, send_frame
from cloudclaude.ctl import messages as m

MAX_REPLY = 16 * 1024 * 1024


class CtlUnreachable(Exception):
    """Nothing listens on the socket (or it does not exist)."""


class CtlClient:
    def __init__(self, path: str) -> None:
        self.path = path

    async def stream(self, request: m.Request) -> AsyncIterator[m.Reply]:
        """Every reply frame the daemon sends for ``request``, until it closes."""
        try:
            stream = await trio.open_unix_socket(self.path)
        except OSError as exc:
            raise CtlUnreachable(f"cannot connect to {self.path}: {exc.strerror or exc}") from exc
        async with stream:
            # Refused before reading: the refusal frame is still there to read.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await send_frame(stream, m.encode_request(request))
            reader = FrameReader(stream, MAX_REPLY)
            while True:
                try:
                    body = await reader.receive_frame()
                except FrameError as exc:
                    raise m.ProtocolError(str(exc)) from exc
                except trio.BrokenResourceError as exc:
                    raise CtlUnreachable(f"the daemon closed the connection: {exc}") from exc
                if body is None:
                    return
                yield m.decode_reply(body)

    async def call(self, request: m.Request) -> m.Reply:
        """The first reply (for requests that have exactly one)."""
        async for reply in self.stream(request):
            return reply
        raise m.ProtocolError("the daemon closed the connection without a reply")
