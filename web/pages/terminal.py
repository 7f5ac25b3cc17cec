"""The browser terminal: xterm.js over a WebSocket into the same tmux session ssh users see.

The WebSocket is authenticated by the session cookie and, since browsers send cookies on
cross-site WebSocket handshakes too, by its Origin, which must be this site. Frames from the
browser are JSON (``{"type": "input", "data": …}`` or ``{"type": "resize", "cols", "rows"}``),
at most ``MAX_FRAME`` bytes (larger: closed with 1009); the terminal's output goes back as
binary frames. Neither direction buffers more than ``cloudclaude.sshproxy.shell`` allows: a
browser that stops reading stops the box's output, a box that stops reading holds the
browser's input. Typing counts as activity for the idle scanner (at most every
``ssh.activity_interval_s``); what the terminal answers by itself when the box asks (device
attributes, cursor and colour reports) does not, since the box can provoke it.

Each terminal is audited like an SSH session (``ssh.session.opened``/``closed``, ``kind``
``terminal``, the signed-in user as actor, the box's owner as the event's user) and registered
in ``LiveSessions``: when its user's sessions end (password changed or reset, account disabled,
expired or deleted, or an admin on another user's box losing the role) the revocation watch
ends it, the browser is told why and the WebSocket closes with 1008. An admin opening a
terminal on another user's box is announced on that box's tmux clients first.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid

import structlog
import trio
from quart import Blueprint, g, websocket

from cloudclaude.core.ids import parse_uuid
from cloudclaude.core.timefmt import utcnow
from cloudclaude.domain.live_sessions import ending_text
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host
from cloudclaude.model.users import User
from cloudclaude.sshproxy.shell import ShellStream, open_shell
from web.api.common import current_user, services
from web.pages.render import render
from web.pages.session import page, session_user

blueprint = Blueprint("pages_terminal", __name__)
log = structlog.get_logger(component="web")
MAX_COLS, MAX_ROWS = 500, 200
#: The largest frame the browser may send (a big paste); the server caps messages anyway.
MAX_FRAME = 1024 * 1024
#: Reports a terminal sends unasked-by-the-user: CSI device attributes, cursor position,
#: status, focus and window reports; OSC answers (colours); DCS answers (version, settings).
_REPORT = re.compile(
    r"\x1b\[[?>=]?[\d;]*[cRnIOt]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*\x1b\\"
)


def typed(data: str) -> bool:
    """Whether ``data`` holds anything besides the terminal's own reports."""
    return bool(_REPORT.sub("", data))


async def _host_for(user: User, host_id: str) -> Host:
    owner = None if user.role == "admin" else user.id
    return await services().hosts.get(parse_uuid(host_id, "host"), owner=owner)


#: The most the closing audit row may take (it runs shielded, as the terminal goes).
CLOSE_AUDIT_S = 10.0


class TerminalUsage:
    """One web terminal's audit rows (like SSH sessions', ``kind`` ``terminal``) and bytes."""

    def __init__(self, user: User, host: Host, source_ip: str | None) -> None:
        self.actor = Actor(name=f"user:{user.username}", user_id=user.id, source_ip=source_ip)
        self.host = host
        self.started = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0

    async def opened(self) -> None:
        await services().hosts.touch_used(self.host.id)
        await self._record("ssh.session.opened", {})

    async def closed(self, reason: str) -> None:
        meta = {
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_s": round(time.monotonic() - self.started, 3),
            "reason": reason,
        }
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_AUDIT_S) as bounded:
            await self._record("ssh.session.closed", meta)
        if bounded.cancelled_caught:
            log.warning("terminal_close_audit_timed_out", host_id=str(self.host.id))

    async def _record(self, kind: str, meta: dict[str, object]) -> None:
        await services().audit.record(
            kind,
            self.actor,
            user_id=self.host.user_id,
            host_id=self.host.id,
            meta={"kind": "terminal", "channel": "web", **meta},
        )


@blueprint.get("/me/hosts/<host_id>/terminal")
@page()
async def terminal_page(host_id: str) -> str:
    host = await _host_for(current_user(), host_id)
    return await render("terminal.html", host=host)


def _same_origin() -> bool:
    origin = websocket.headers.get("Origin", "")
    return bool(origin) and urllib.parse.urlsplit(origin).netloc == websocket.host


def _size(raw: object, limit: int, default: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        return default
    return max(1, min(value, limit))


@blueprint.websocket("/me/hosts/<host_id>/terminal/ws")
async def terminal_ws(host_id: str) -> None:
    user = await session_user()
    if user is None or not _same_origin():
        await websocket.close(1008, "sign in on this site first")
        return
    try:
        host = await _host_for(user, host_id)
    except CloudClaudeError as exc:
        await websocket.close(1008, exc.error.slug)
        return
    if host.status not in ("running", "degraded"):
        await websocket.close(1011, f"the box is {host.status}; start it first")
        return
    await websocket.accept()
    cols = _size(websocket.args.get("cols"), MAX_COLS, 80)
    rows = _size(websocket.args.get("rows"), MAX_ROWS, 24)
    svc = services()
    other = host.user_id != user.id  # an admin on another user's box
    notice = f"admin {user.username} attached (web terminal)" if other else ""
    scope = trio.CancelScope()
    usage = TerminalUsage(user, host, websocket.remote_addr)
    await usage.opened()
    live = svc.live_sessions.open(
        user,
        "terminal",
        lambda _: scope.cancel(),
        needs_admin=other,
        auth_session=g.signed_in.session.id,  # signing out of the page closes it too
    )
    try:
        with scope:
            async with (
                open_shell(
                    svc.agent, svc.hosts, host.id, cols=cols, rows=rows, notice=notice
                ) as sh,
                trio.open_nursery() as nursery,
            ):

                async def output() -> None:
                    while data := await sh.receive():
                        usage.bytes_out += len(data)
                        await websocket.send(data)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(output)
                await _input(sh, host.id, usage)
                nursery.cancel_scope.cancel()
    finally:
        svc.live_sessions.close(live)
        await usage.closed(live.ended or "ended")
    if live.ended is not None:  # the revocation watch ended it: say why, then close
        text = ending_text(live.ended)
        await websocket.send(f"\r\n\x1b[1;31mcloudclaude: {text}\x1b[0m\r\n".encode())
        await websocket.close(1008, text[:120])


async def _input(shell: ShellStream, host_id: uuid.UUID, usage: TerminalUsage) -> None:
    """Browser frames into the shell until the browser goes."""
    last_touch = 0.0
    while True:
        raw = await websocket.receive()
        if len(raw) > MAX_FRAME:
            await websocket.close(1009, f"frames are at most {MAX_FRAME} bytes")
            return
        try:
            message = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            continue  # not ours (or nested past Python's limit): ignore, keep the session
        if not isinstance(message, dict):
            continue
        if message.get("type") == "input" and isinstance(message.get("data"), str):
            data = message["data"].encode()
            usage.bytes_in += len(data)
            await shell.send(data)
            interval = services().live.current.ssh.activity_interval_s
            if typed(message["data"]) and time.monotonic() - last_touch >= interval:
                last_touch = time.monotonic()
                await services().hosts.touch_activity(host_id, utcnow())
        elif message.get("type") == "resize":
            shell.resize(
                _size(message.get("cols"), MAX_COLS, 80), _size(message.get("rows"), MAX_ROWS, 24)
            )
