"""One agent connection: Hello first, then requests that run concurrently, matched by id.

A malformed or unknown message gets an ``ErrorReply`` and the connection stays up; a frame over
``MAX_FRAME`` or a broken stream ends only this connection. A connection idle for
``idle_timeout_s`` is closed. At most ``MAX_IN_FLIGHT`` requests of one connection run at once:
past that the connection is not read until one finishes (backpressure, not a growing queue).
The same code serves the socket mode and the embedded mode.
"""

from __future__ import annotations

import contextlib
import socket

import trio

from agent import errors, logconfig
from agent.dispatch import AGENT_VERSION, Dispatcher, Handler, SocketReply, passed_socket
from agent.protocol import messages as m
from agent.protocol.codec import DecodeError, decode, encode
from agent.protocol.fdpassing import FdFrameReader, SocketHandoff, close_fds, send_frame_with_fd
from agent.protocol.framing import MAX_FRAME, FrameError, FrameReader, send_frame

log = logconfig.get("agent")
HELLO_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0
MAX_IN_FLIGHT = 32


class Connection:
    def __init__(
        self,
        stream: trio.abc.Stream,
        dispatcher: Dispatcher,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_frame: int = MAX_FRAME,
        handoff: SocketHandoff | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._stream = stream
        self._slots = trio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._handoff = handoff
        self._dispatcher = dispatcher
        self._idle_timeout_s = idle_timeout_s
        raw = getattr(stream, "socket", None)
        self._reader: FrameReader | FdFrameReader
        if raw is not None and raw.family == socket.AF_UNIX:
            self._reader = FdFrameReader(raw, max_frame)  # a request may carry a socket
        else:
            self._reader = FrameReader(stream, max_frame)
        self._send_lock = trio.Lock()

    async def send(self, message: m.Message) -> None:
        body = encode(m.converter, message, m.Message)
        async with self._send_lock:
            await send_frame(self._stream, body)

    async def serve(self) -> None:
        """Serve until the peer closes, idles out, or breaks the framing."""
        try:
            if await self._hello():
                async with trio.open_nursery() as nursery:
                    await self._read_requests(nursery)
        except (FrameError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # broken during hello: nothing to answer
        finally:
            if isinstance(self._reader, FdFrameReader):
                self._reader.close_fds()
            await trio.aclose_forcefully(self._stream)

    async def _read_requests(self, nursery: trio.Nursery) -> None:
        """Accept requests until EOF, idle timeout or a framing error (errors handled here,
        inside the nursery, so they are not wrapped in an exception group)."""
        while True:
            try:
                with trio.move_on_after(self._idle_timeout_s) as idle:
                    body = await self._reader.receive_frame()
            except FrameError as exc:
                await self._try_send(_protocol_error(None, str(exc)))
                nursery.cancel_scope.cancel()
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                nursery.cancel_scope.cancel()
                return
            if idle.cancelled_caught and self._slots.value < self._max_in_flight:
                continue  # a long request (a home's transfer) is still running: not idle
            if idle.cancelled_caught:
                log.info("agent_connection_idle", idle_timeout_s=self._idle_timeout_s)
                nursery.cancel_scope.cancel()
                return
            if body is None:
                return  # the peer is done sending; in-flight requests still answer
            await self._accept(body, nursery)

    async def _hello(self) -> bool:
        with trio.move_on_after(HELLO_TIMEOUT_S):
            body = await self._reader.receive_frame()
            if body is None:
                return False
            try:
                hello = decode(m.converter, body, m.Message)
            except DecodeError as exc:
                hello = exc
            if not isinstance(hello, m.Hello):
                await self.send(
                    m.ErrorReply(
                        id=None, code=errors.PROTOCOL_ERROR, message="expected hello first"
                    )
                )
                return False
            if hello.protocol_version != m.PROTOCOL_VERSION:
                await self.send(
                    m.ErrorReply(
                        id=None,
                        code=errors.PROTOCOL_VERSION_MISMATCH,
                        message=f"agent speaks protocol {m.PROTOCOL_VERSION},"
                        f" client {hello.protocol_version}",
                    )
                )
                return False
            await self.send(
                m.HelloReply(protocol_version=m.PROTOCOL_VERSION, agent_version=AGENT_VERSION)
            )
            return True
        return False

    async def _accept(self, body: bytes, nursery: trio.Nursery) -> None:
        fds = self._reader.take_fds() if isinstance(self._reader, FdFrameReader) else []
        try:
            request = decode(m.converter, body, m.Message)
        except DecodeError as exc:
            close_fds(fds)
            await self._try_send(_protocol_error(exc.request_id, str(exc)))
            return
        handler = self._dispatcher.handler_for(request)
        request_id = getattr(request, "id", None)
        if handler is None:
            close_fds(fds)
            name = m.op_name(type(request))
            await self._try_send(_protocol_error(request_id, f"'{name}' is not a request"))
            return
        # A request without the socket it needs is refused by its handler, after the checks
        # every request gets (a bad host id is refused as such first).
        sock = self._passed(request, fds)
        await self._slots.acquire()  # released by _run; reading waits meanwhile
        nursery.start_soon(self._run, handler, request, sock)

    def _passed(self, request: m.Request, fds: list[int]) -> socket.socket | None:
        """The one socket a ``TAKES_SOCKET`` request carries; any other fd is closed."""
        if type(request) not in m.TAKES_SOCKET:
            close_fds(fds)
            return None
        if self._handoff is not None and not fds:
            return self._handoff.take(request.id)
        if len(fds) != 1:
            close_fds(fds)
            return None
        try:
            return socket.socket(fileno=fds[0])
        except OSError:  # not a socket
            close_fds(fds)
            return None

    async def _run(
        self, handler: Handler, request: m.Request, sock: socket.socket | None = None
    ) -> None:
        passed_socket.set(sock)  # this task's own context
        try:
            await self._answer(handler, request)
        finally:
            if sock is not None:
                sock.close()
            self._slots.release()

    async def _answer(self, handler: Handler, request: m.Request) -> None:
        async def progress(stage: str, percent: int, message: str) -> None:
            await self.send(
                m.Progress(id=request.id, stage=stage, percent=percent, message=message)
            )

        reply: m.Reply
        try:
            outcome = await handler(request, progress)
            if isinstance(outcome, SocketReply):
                await self._pass_socket(outcome)
                return
            reply = outcome
        except errors.AgentError as exc:
            reply = m.ErrorReply(id=request.id, code=exc.code, message=exc.message)
        except Exception as exc:
            log.exception(
                "agent_request_failed", op=m.op_name(type(request)), request_id=request.id
            )
            reply = m.ErrorReply(id=request.id, code=errors.INTERNAL_ERROR, message=repr(exc))
        await self._try_send(reply)

    async def _pass_socket(self, outcome: SocketReply) -> None:
        """Hand the socket over with its reply: directly in embedded mode, else SCM_RIGHTS."""
        body = encode(m.converter, outcome.reply, m.Message)
        with outcome.sock:
            if self._handoff is not None:
                self._handoff.put(outcome.reply.id, outcome.sock.dup())
                await self._try_send(outcome.reply)
                return
            raw = getattr(self._stream, "socket", None)
            if raw is None or raw.family != socket.AF_UNIX:
                raise errors.AgentError(
                    errors.PROTOCOL_ERROR, "this connection cannot carry a socket"
                )
            async with self._send_lock:
                await send_frame_with_fd(raw, body, outcome.sock.fileno())

    async def _try_send(self, message: m.Message) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.send(message)


def _protocol_error(request_id: int | None, message: str) -> m.ErrorReply:
    return m.ErrorReply(id=request_id, code=errors.PROTOCOL_ERROR, message=message)
