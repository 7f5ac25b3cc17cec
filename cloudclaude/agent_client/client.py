"""``AgentClient``: typed requests over one agent connection, several at once, matched by id.

The transport is any ``trio.abc.Stream``: the agent's Unix socket in production, or an in-memory
stream pair to an in-process ``agent.server.Connection`` in embedded mode (``embedded()``), so
both modes run the same codec and the same server code.
"""

from __future__ import annotations

import itertools
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing

from agent.dispatch import Dispatcher
from agent.protocol import messages as m
from agent.protocol.codec import DecodeError, decode, encode
from agent.protocol.fdpassing import (
    SocketHandoff,
    close_fds,
    receive_frame_with_fds,
    send_frame_with_fd,
)
from agent.protocol.framing import MAX_FRAME, FrameError, FrameReader, encode_frame, send_frame
from agent.server import Connection
from cloudclaude.agent_client.peer_watch import while_peer_lives
from cloudclaude.errors import system

OnProgress = Callable[[m.Progress], Awaitable[None]]


class AgentError(Exception):
    """The agent answered a request with an error (``code`` is a registry code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AgentConnectionLost(AgentError):
    def __init__(self, message: str) -> None:
        super().__init__(system.AGENT_UNAVAILABLE.code, message)


def agent_exited() -> AgentConnectionLost:
    """The agent process ended while a call waited (its socket may still be open)."""
    return AgentConnectionLost("the agent process exited before it answered")


class AgentClient:
    def __init__(self, stream: trio.abc.Stream, handoff: SocketHandoff | None = None) -> None:
        self._stream = stream
        self._handoff = handoff
        self._reader = FrameReader(stream)
        self._ids = itertools.count(1)
        self._waiters: dict[int, trio.MemorySendChannel[m.Message]] = {}
        self._send_lock = trio.Lock()
        self._lost: str | None = None
        self.agent_version = ""

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, stream: trio.abc.Stream, handoff: SocketHandoff | None = None
    ) -> AsyncIterator[AgentClient]:
        """Say hello, then serve requests until the block ends."""
        client = cls(stream, handoff)
        try:
            await client._hello()
        except (FrameError, DecodeError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            await trio.aclose_forcefully(stream)
            raise AgentConnectionLost(f"the agent connection broke during hello: {exc}") from exc
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._read_replies)
            try:
                yield client
            except Exception as exc:  # noqa: BLE001 (re-raised below, not wrapped in a group)
                failure = exc
            finally:
                # Close first, shielded, then cancel: a checkpoint inside an already cancelled
                # scope would raise Cancelled here and swallow the body's own exception.
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _send(self, message: m.Message) -> None:
        async with self._send_lock:
            await send_frame(self._stream, encode(m.converter, message, m.Message))

    async def _receive(self) -> m.Message | None:
        body = await self._reader.receive_frame()
        if body is None:
            return None
        message: m.Message = decode(m.converter, body, m.Message)
        return message

    async def _hello(self) -> None:
        await self._send(HELLO)
        self.agent_version = _hello_reply(await self._receive()).agent_version

    async def _read_replies(self) -> None:
        try:
            while (message := await self._receive()) is not None:
                request_id = getattr(message, "id", None)
                if request_id is None:  # a connection-level error: nothing more will come
                    reason = getattr(message, "message", "connection-level error")
                    self._fail_all(f"the agent closed the connection: {reason}")
                    return
                waiter = self._waiters.get(request_id)
                if waiter is not None:
                    waiter.send_nowait(message)
            self._fail_all("the agent closed the connection")
        except (FrameError, DecodeError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._fail_all(f"the agent connection broke: {exc}")

    def _fail_all(self, reason: str) -> None:
        self._lost = reason
        for waiter in self._waiters.values():
            waiter.close()

    async def request(
        self,
        request: m.Request,
        on_progress: OnProgress | None = None,
        *,
        sock: socket.socket | None = None,
    ) -> Any:
        """Send ``request`` (its id is assigned here) and return the final reply.

        ``sock`` goes with a ``TAKES_SOCKET`` request (embedded mode: handed over in-process;
        the caller keeps its own copy).
        """
        if self._lost is not None:
            raise AgentConnectionLost(self._lost)
        request_id = next(self._ids)
        request = attrs.evolve(request, id=request_id)
        if sock is not None:
            if self._handoff is None:
                raise AgentError(
                    system.PROTOCOL_ERROR.code, "this agent connection cannot carry sockets"
                )
            self._handoff.put(request_id, sock.dup())
        send, receive = trio.open_memory_channel[m.Message](math.inf)
        self._waiters[request_id] = send
        try:
            await self._send(request)
            async for reply in receive:
                final = await _final(reply, on_progress)
                if final is not None:
                    return final
            raise AgentConnectionLost(self._lost or "the agent connection closed")
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise AgentConnectionLost(f"cannot reach the agent: {exc}") from exc
        finally:
            del self._waiters[request_id]
            if sock is not None and self._handoff is not None:
                leftover = self._handoff.take(request_id)  # never taken: a refused request
                if leftover is not None:
                    leftover.close()

    async def ping(self) -> m.Pong:
        reply: m.Pong = await self.request(m.Ping(id=0))
        return reply

    async def open_port(self, host_id: str, port: int) -> socket.socket:
        """Embedded mode: the agent hands the connected socket over in-process."""
        _reply, sock = await self.socket_request(m.OpenPort(id=0, host_id=host_id, port=port))
        return sock

    async def socket_request(self, request: m.Request) -> tuple[m.Message, socket.socket]:
        """Embedded mode: a request whose reply carries a socket, handed over in-process."""
        if self._handoff is None:
            raise AgentError(
                system.PROTOCOL_ERROR.code, "this agent connection cannot carry sockets"
            )
        reply = await self.request(request)
        sock = self._handoff.take(reply.id)
        if sock is None:
            raise AgentError(
                system.INTERNAL_ERROR.code,
                f"the agent answered {m.op_name(type(request))} without a socket",
            )
        return reply, sock


HELLO = m.Hello(protocol_version=m.PROTOCOL_VERSION, client="cloudclaude")


async def _final(reply: m.Message, on_progress: OnProgress | None) -> m.Message | None:
    """The final reply (an error raised), or None after passing a progress report on."""
    if isinstance(reply, m.Progress):
        if on_progress is not None:
            await on_progress(reply)
        return None
    if isinstance(reply, m.ErrorReply):
        raise AgentError(reply.code, reply.message)
    return reply


def _hello_reply(reply: m.Message | None) -> m.HelloReply:
    if isinstance(reply, m.ErrorReply):
        raise AgentError(reply.code, reply.message)
    if not isinstance(reply, m.HelloReply):
        raise AgentConnectionLost(f"the agent answered hello with {reply!r}")
    return reply


async def socket_request_over_unix(
    path: str, request: m.Request
) -> tuple[m.Message, socket.socket]:
    """Socket mode: one short connection for one request whose reply carries a socket
    (SCM_RIGHTS). Frames are read with ``recvmsg`` here, since a plain read would drop the fd.
    """
    try:
        stream = await trio.open_unix_socket(path)
    except OSError as exc:
        raise AgentConnectionLost(f"cannot connect to {path}: {exc}") from exc
    async with stream, while_peer_lives(stream.socket, agent_exited):
        try:
            await stream.send_all(_frame(HELLO))
            body, fds = await receive_frame_with_fds(stream.socket, MAX_FRAME)
            close_fds(fds)
            _hello_reply(None if body is None else decode(m.converter, body, m.Message))
            await stream.send_all(_frame(attrs.evolve(request, id=1)))
            body, fds = await receive_frame_with_fds(stream.socket, MAX_FRAME)
        except (OSError, FrameError, trio.BrokenResourceError) as exc:
            raise AgentConnectionLost(f"the agent connection broke: {exc}") from exc
    reply = None if body is None else decode(m.converter, body, m.Message)
    if isinstance(reply, SOCKET_REPLIES) and len(fds) == 1:
        return reply, socket.socket(fileno=fds[0])
    close_fds(fds)
    if isinstance(reply, m.ErrorReply):
        raise AgentError(reply.code, reply.message)
    op = m.op_name(type(request))
    raise AgentConnectionLost(f"the agent answered {op} with {reply!r} and {len(fds)} fds")


#: The replies that carry a socket.
SOCKET_REPLIES = (m.PortOpened, m.LlmListenerOpened)


async def request_with_socket_over_unix(
    path: str, request: m.Request, sock: socket.socket, on_progress: OnProgress | None = None
) -> Any:
    """Socket mode: one short connection for one ``TAKES_SOCKET`` request, ``sock`` attached
    to its frame (SCM_RIGHTS); the final reply comes when the agent is done with it."""
    try:
        stream = await trio.open_unix_socket(path)
    except OSError as exc:
        raise AgentConnectionLost(f"cannot connect to {path}: {exc}") from exc
    async with stream, while_peer_lives(stream.socket, agent_exited):
        reader = FrameReader(stream)
        try:
            await stream.send_all(_frame(HELLO))
            body = await reader.receive_frame()
            _hello_reply(None if body is None else decode(m.converter, body, m.Message))
            body = encode(m.converter, attrs.evolve(request, id=1), m.Message)
            await send_frame_with_fd(stream.socket, body, sock.fileno())
            while (body := await reader.receive_frame()) is not None:
                final = await _final(decode(m.converter, body, m.Message), on_progress)
                if final is not None:
                    return final
        except (OSError, FrameError, trio.BrokenResourceError) as exc:
            raise AgentConnectionLost(f"the agent connection broke: {exc}") from exc
    raise AgentConnectionLost("the agent closed the connection before it answered")


def _frame(message: m.Message) -> bytes:
    return encode_frame(encode(m.converter, message, m.Message))


@asynccontextmanager
async def embedded(dispatcher: Dispatcher | None = None) -> AsyncIterator[AgentClient]:
    """An agent served in this process over an in-memory stream (development mode)."""
    client_end, agent_end = trio.testing.memory_stream_pair()
    handoff = SocketHandoff()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent_end, dispatcher or Dispatcher(), handoff=handoff).serve)
        async with AgentClient.connect(client_end, handoff) as client:
            yield client
        nursery.cancel_scope.cancel()
