"""The control-socket component: a Unix socket whose callers are admitted by kernel credentials.

Peer uid and groups (SO_PEERCRED, SO_PEERGROUPS) are checked against the allow-list (root, the
daemon's own uid, and the configured group) before a byte is read; a refused caller gets one
``peer_not_allowed`` frame and the connection is closed. Each connection carries one request,
answered by the handler declared with its command in ``ctl.commands`` (``dispatch``), which
runs with a ``Context``: the caller, the daemon's services and the reply channel.
"""

from __future__ import annotations

import contextlib
import grp
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import structlog
import trio

from agent.protocol.closing import send_final_frame
from agent.protocol.framing import FrameError, FrameReader, send_frame
from agent.protocol.peercred import is_allowed, peer_credentials
from agent.protocol.unixsock import bind_unix_listener
from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import CtlSettings
from cloudclaude.ctl import commands  # noqa: F401  (declares every command and its handler)
from cloudclaude.ctl import messages as m
from cloudclaude.ctl.registry import REGISTRY, Registry, Request
from cloudclaude.domain.errors import DatabaseUnavailable
from cloudclaude.errors import CloudClaudeError, auth, system
from cloudclaude.model.audit import Actor

log = structlog.get_logger(component="ctl")
MAX_FRAME = 64 * 1024
REQUEST_TIMEOUT_S = 10.0
Send = Callable[[m.Reply], Awaitable[None]]


@attrs.frozen(kw_only=True)
class Context:
    """What a handler runs with: the caller, the daemon's services, and its reply channel."""

    services: Services
    actor: Actor
    stopping: trio.Event
    send: Send

    async def event(self, data: Any) -> None:
        """Stream one item before the final reply."""
        await self.send(m.Reply(kind="event", data=data))


async def dispatch(registry: Registry, request: Request, ctx: Context) -> None:
    """Run ``request``'s handler and send what it returns as the ``ok`` reply."""
    data = await registry.handler_of(type(request))(request, ctx)
    await ctx.send(m.Reply(kind="ok", data=data))


def allowed_ids(group: str) -> tuple[set[int], set[int]]:
    """(uids, gids) admitted: root, this process's uid, and ``group`` when it exists."""
    gids: set[int] = set()
    with contextlib.suppress(KeyError):
        gids.add(grp.getgrnam(group).gr_gid)
    return {0, os.geteuid()}, gids


class CtlServer:
    name = "ctl"

    def __init__(self, services: Services, settings: CtlSettings, stopping: trio.Event) -> None:
        self._services = services
        self._settings = settings
        self._stopping = stopping
        self.path = Path(settings.socket)
        self.allowed_uids, self.allowed_gids = allowed_ids(settings.group)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        sock = self._listen()
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._stop_when_asked, nursery.cancel_scope)
                await nursery.start(trio.serve_listeners, self._handle, [listener])
                task_status.started()
        finally:
            self.path.unlink(missing_ok=True)

    async def _stop_when_asked(self, scope: trio.CancelScope) -> None:
        await self._stopping.wait()
        scope.cancel()

    def _listen(self) -> trio.socket.SocketType:
        sock = bind_unix_listener(self.path, self._settings.socket_mode)
        if self.allowed_gids:
            try:
                os.chown(self.path, -1, min(self.allowed_gids))
            except PermissionError:
                log.warning("ctl_socket_group_not_set", group=self._settings.group)
        return trio.socket.from_stdlib_socket(sock)

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            cred = peer_credentials(stream.socket)  # type: ignore[arg-type]
            if not is_allowed(cred, self.allowed_uids, self.allowed_gids):
                log.warning("ctl_peer_refused", uid=cred.uid, gid=cred.gid, pid=cred.pid)
                error = CloudClaudeError(auth.PEER_NOT_ALLOWED, f"uid {cred.uid} may not use ctl")
                await self._send_final_error(stream, error)
                return
            actor = Actor(name=f"ctl:uid={cred.uid}")
            reader = FrameReader(stream, MAX_FRAME)
            try:
                with trio.fail_after(REQUEST_TIMEOUT_S):
                    body = await reader.receive_frame()
                if body is None:
                    return
                request = m.decode_request(body)
            except (FrameError, m.ProtocolError, trio.TooSlowError) as exc:
                detail = (
                    "no request within the timeout"
                    if isinstance(exc, trio.TooSlowError)
                    else str(exc)
                )
                await self._send_final_error(
                    stream, CloudClaudeError(system.PROTOCOL_ERROR, detail)
                )
                return

            async def send(reply: m.Reply) -> None:
                await self._send(stream, reply)

            ctx = Context(services=self._services, actor=actor, stopping=self._stopping, send=send)
            try:
                await dispatch(REGISTRY, request, ctx)
            except CloudClaudeError as exc:
                await send(m.Reply(kind="error", error=exc.body()["error"]))
            except DatabaseUnavailable:
                error = CloudClaudeError(system.DATABASE_UNAVAILABLE)
                await send(m.Reply(kind="error", error=error.body()["error"]))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away (e.g. Ctrl-C on `audit tail --follow`)
            except Exception as exc:
                log.exception("ctl_request_failed", op=REGISTRY.of(type(request)).op)
                error = CloudClaudeError(system.INTERNAL_ERROR, str(exc)[:200])
                await send(m.Reply(kind="error", error=error.body()["error"]))

    async def _send_final_error(self, stream: trio.SocketStream, error: CloudClaudeError) -> None:
        reply = m.Reply(kind="error", error=error.body()["error"])
        await send_final_frame(stream, m.encode_reply(reply), MAX_FRAME * 16)

    @staticmethod
    async def _send(stream: trio.SocketStream, reply: m.Reply) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await send_frame(stream, m.encode_reply(reply), MAX_FRAME * 16)
