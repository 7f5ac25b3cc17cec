"""The SSH proxy on :2222: asyncssh under trio-asyncio, one ``ProxyConnection`` per client.

Authentication and routing are decided by ``SshAccess`` (trio); this module only adapts
asyncssh's callbacks to it. Before authentication a client learns nothing about an account:
unknown, disabled and expired users are offered the same methods and fail the same way. Only
after one of their credentials is accepted is a disabled or expired user told why (in the
disconnect message). Password attempts past the rate limit, or while the password-check queue
is full, are refused with a banner that says so. At most ``ssh.max_unauthenticated``
connections wait to authenticate; past it new ones are closed at once.

After login each session is relayed by ``RelaySession`` over one upstream connection to the
box, made on first use (starting the host if it is stopped). Local forwards (``ssh -L``) reach
only ports on the box itself, through the agent; remote forwards, agent and X11 forwarding are
refused.

Authenticated connections are registered in ``LiveSessions``: when the revocation watch ends
one (the user's sessions ended: password reset, account disabled, expired or deleted), each
open session is told why on stderr and exits, the connection is then disconnected, and
``ssh.session.closed`` carries the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from typing import cast

import asyncssh
import attrs
import structlog
import trio
import trio_asyncio
from asyncssh.forward import SSHForwarder

from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, SshSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.pool import Database
from cloudclaude.domain import audit
from cloudclaude.domain.hosts import Hosts
from cloudclaude.domain.live_sessions import LiveSession, LiveSessions, ending_text
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import Host
from cloudclaude.model.users import User
from cloudclaude.sshproxy import algorithms
from cloudclaude.sshproxy.access import Grant, Login, SshAccess, parse_login, ssh_actor
from cloudclaude.sshproxy.autostart import ensure_running
from cloudclaude.sshproxy.bridge import in_trio, spawn
from cloudclaude.sshproxy.session import RelaySession, error_text
from cloudclaude.sshproxy.upstream import MAX_PACKET, WINDOW, connect_box

log = structlog.get_logger(component="sshproxy")

#: How long an ended connection's sessions have to close before it is disconnected anyway.
END_GRACE_S = 5.0
#: ``ssh -L`` destinations that mean "the box itself".
BOX_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


@attrs.define(kw_only=True)
class ProxyContext:
    """What every connection needs from the daemon (all trio objects)."""

    db: Database
    access: SshAccess
    hosts: Hosts
    agent: Agent
    metrics: Metrics
    live: LiveSettings
    connections: set[ProxyConnection] = attrs.field(factory=set)
    #: Authenticated connections, ended by the revocation watch when their user's sessions end.
    sessions: LiveSessions = attrs.field(factory=LiveSessions)
    #: Connections that have not authenticated yet (capped by ``ssh.max_unauthenticated``).
    unauthenticated: int = 0

    @property
    def settings(self) -> SshSettings:
        return self.live.current.ssh


class ProxyConnection(asyncssh.SSHServer):
    def __init__(self, ctx: ProxyContext) -> None:
        self._ctx = ctx
        self._conn: asyncssh.SSHServerConnection | None = None
        self.source_ip = "unknown"
        self._login: Login | None = None
        self._user: User | None = None
        self._counted = False
        self._key_rejected = False
        self._password_tried = False
        self._grant: Grant | None = None
        self._host: Host | None = None
        self._upstream: asyncssh.SSHClientConnection | None = None
        self._upstream_lock = asyncio.Lock()
        self._last_mark = 0.0
        self._opened: set[RelaySession] = set()
        self._live: LiveSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- connection -------------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        peer = conn.get_extra_info("peername")
        self.source_ip = str(peer[0]) if peer else "unknown"
        self._ctx.connections.add(self)
        if self._ctx.unauthenticated >= self._ctx.settings.max_unauthenticated:
            log.warning("ssh_unauthenticated_cap", source_ip=self.source_ip)
            asyncio.get_running_loop().call_soon(conn.abort)
            return
        self._ctx.unauthenticated += 1
        self._counted = True

    def _authenticated(self) -> None:
        if self._counted:
            self._counted = False
            self._ctx.unauthenticated -= 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._authenticated()
        self._ctx.connections.discard(self)
        if self._live is not None:
            self._ctx.sessions.close(self._live)
        if self._upstream is not None:
            self._upstream.close()
        if self._grant is None and self._key_rejected and not self._password_tried:
            spawn(self._failed("publickey", "no_registered_key", self._username()), "audit")

    @property
    def agent(self) -> Agent:
        return self._ctx.agent

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # --- authentication ---------------------------------------------------------------------

    def _username(self, offered: str = "") -> str:
        return self._login.username if self._login is not None else offered

    async def begin_auth(self, username: str) -> bool:
        self._login = parse_login(username)
        # Not a valid username: looked up all the same (never found), every method fails (and
        # is audited), so even the shape of the work tells nothing about accounts.
        user = await in_trio(self._ctx.access.account, self._login or Login("-"))
        self._user = user if self._login is not None else None
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Unknown users take the same path (the same query, a dummy key set): see key_allowed.
        user = self._user
        fingerprint = key.get_fingerprint("sha256")
        if await in_trio(self._ctx.access.key_allowed, user, fingerprint) and user is not None:
            self._grant = Grant(user, "publickey")
            return True
        self._key_rejected = True
        return False

    async def validate_password(self, username: str, password: str) -> bool:
        self._password_tried = True
        if self._login is None:
            await self._failed("password", "invalid_username", username)
            return False
        try:
            grant = await in_trio(
                self._ctx.access.check_password, self._login, self._user, password, self.source_ip
            )
        except CloudClaudeError as exc:  # rate limited or busy: says nothing about the account
            assert self._conn is not None
            self._conn.send_auth_banner(error_text(exc, "\r\n"))
            return False
        if grant is None:
            return False
        self._grant = grant
        return True

    async def _failed(self, method: str, reason: str, username: str) -> None:
        access = self._ctx.access
        await in_trio(access.failed, username, self._user, method, reason, self.source_ip)

    def auth_completed(self) -> None:
        assert self._grant is not None
        self._authenticated()
        grant = self._grant
        refusal = self._ctx.access.refusal(grant.user)
        if refusal is not None:
            reason = refusal.error.slug
            self._grant = None
            self._password_tried = True  # no "no_registered_key" audit on close
            failed = functools.partial(self._ctx.access.failed, count=False)
            user = grant.user
            args = (user.username, user, grant.method, reason, self.source_ip)
            spawn(in_trio(failed, *args), "audit")
            assert self._conn is not None
            text = " ".join(line.strip() for line in error_text(refusal, "\n").splitlines())
            conn = self._conn
            asyncio.get_running_loop().call_soon(
                conn.disconnect, asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, text
            )
            return
        self._live = self._ctx.sessions.open(grant.user, "ssh", self._end_soon)
        spawn(in_trio(self._ctx.access.succeeded, grant, self.source_ip), "audit")

    def _end_soon(self, reason: str) -> None:
        """The revocation watch ended this connection (called from trio)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon(self._end, reason)

    def _end(self, reason: str) -> None:
        """Tell every open session why and end it, then disconnect.

        OpenSSH drops what a channel still holds once the disconnect arrives, so the sessions
        end first (the message, then an exit status) and the disconnect follows when the last
        one has closed, or after ``END_GRACE_S`` at the latest.
        """
        if self._loop is None or self not in self._ctx.connections:
            return
        error = CloudClaudeError("ssh_session_ended", ending_text(reason))
        for session in list(self._opened):
            with contextlib.suppress(OSError, asyncssh.Error):  # a channel already closing
                session.fail(error)
        if self._opened:
            self._loop.call_later(END_GRACE_S, self._disconnect)
        else:
            self._disconnect()

    def _disconnect(self) -> None:
        live = self._live
        if self._conn is None or live is None or live.ended is None:
            return
        if self in self._ctx.connections:
            self._conn.disconnect(asyncssh.DISC_BY_APPLICATION, ending_text(live.ended))

    # --- sessions ---------------------------------------------------------------------------

    def session_requested(self) -> RelaySession:
        return RelaySession(self)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False  # no remote forwards

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Awaitable[asyncssh.SSHTCPSession[bytes]]:
        if dest_host.lower() not in BOX_NAMES:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"forwarding reaches only ports on the box itself (localhost), not {dest_host}",
            )
        return self._open_forward(dest_port)

    async def _open_forward(self, port: int) -> asyncssh.SSHTCPSession[bytes]:
        try:
            host = await self.reach_host(lambda _line: None)
            sock = await in_trio(self._ctx.agent.open_port, str(host.id), port)
        except (CloudClaudeError, AgentError) as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_connection(SSHForwarder, sock=sock)
        # asyncssh's own forward_connection hands back an SSHForwarder the same way.
        return cast(asyncssh.SSHTCPSession[bytes], SSHForwarder(peer))

    async def reach_host(self, say: Callable[[str], None]) -> Host:
        """The routed host, started first when it is not running."""
        if self._host is not None and self._host.status == "running":
            return self._host
        self._host = await in_trio(self._ensure_host_trio, say)
        return self._host

    async def _ensure_host_trio(self, say: Callable[[str], None]) -> Host:
        assert self._grant is not None
        assert self._login is not None
        user = self._grant.user
        host = await self._ctx.access.route(self._login, user, self._grant.host_id)
        actor = ssh_actor(user, self.source_ip)
        return await ensure_running(
            self._ctx.hosts, host, actor, say, self._ctx.settings.autostart_timeout_s
        )

    async def upstream(self, say: Callable[[str], None]) -> asyncssh.SSHClientConnection:
        """The connection to the box, made once per client connection."""
        async with self._upstream_lock:
            if self._upstream is None:
                host = await self.reach_host(say)
                self._upstream = await connect_box(self._ctx.agent, self._ctx.hosts, host.id)
            return self._upstream

    def mark_activity(self) -> None:
        """Client traffic counts as activity, recorded at most every ``activity_interval_s``."""
        now = time.monotonic()
        if self._host is None or now - self._last_mark < self._ctx.settings.activity_interval_s:
            return
        self._last_mark = now
        spawn(in_trio(self._ctx.hosts.touch_activity, self._host.id, utcnow()), "activity")

    def session_opened(self, session: RelaySession) -> None:
        assert self._host is not None
        assert self._grant is not None
        self._opened.add(session)
        self._last_mark = time.monotonic()
        self._ctx.metrics.ssh_sessions.inc()
        self._ctx.metrics.ssh_sessions_total.labels(session.kind).inc()
        meta = {"kind": session.kind, "method": self._grant.method}
        spawn(in_trio(self._session_event, "ssh.session.opened", meta), "audit")

    def session_closed(self, session: RelaySession) -> None:
        if session not in self._opened:
            return
        self._opened.discard(session)
        metrics = self._ctx.metrics
        metrics.ssh_sessions.dec()
        metrics.ssh_bytes.labels("in").inc(session.bytes_in)
        metrics.ssh_bytes.labels("out").inc(session.bytes_out)
        meta = {
            "kind": session.kind,
            "bytes_in": session.bytes_in,
            "bytes_out": session.bytes_out,
            "duration_s": round(time.monotonic() - session.started, 3),
            "exit_status": session.exit_status,
            "reason": self.end_reason,
        }
        spawn(in_trio(self._session_event, "ssh.session.closed", meta), "audit")
        if not self._opened and self._live is not None and self._live.ended is not None:
            self._disconnect()  # the last session of an ended connection

    @property
    def end_reason(self) -> str:
        """Why sessions end: the revocation's reason, or ``ended`` (by the box or client)."""
        if self._live is not None and self._live.ended is not None:
            return self._live.ended
        return "ended"

    async def _session_event(self, kind: str, meta: dict[str, object]) -> None:
        assert self._host is not None
        assert self._grant is not None
        user = self._grant.user
        actor = ssh_actor(user, self.source_ip)
        if kind == "ssh.session.opened":
            await self._ctx.hosts.touch_used(self._host.id)
        await audit.record(
            self._ctx.db, kind, actor, user_id=user.id, host_id=self._host.id, meta=meta
        )


class SshProxy:
    """The supervised component: listens until ``stopping``, then closes every connection."""

    name = "ssh"

    def __init__(self, ctx: ProxyContext, host_key: asyncssh.SSHKey, stopping: trio.Event) -> None:
        self._ctx = ctx
        self._host_key = host_key
        self._stopping = stopping
        self.port = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = self._ctx.settings
        algorithms.check_host_key(self._host_key)
        policy = algorithms.server_options(settings.ciphers)
        server = await trio_asyncio.aio_as_trio(asyncssh.create_server)(
            lambda: ProxyConnection(self._ctx),
            settings.host,
            settings.port,
            server_host_keys=[self._host_key],
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            **policy,
            login_timeout=settings.login_timeout_s,
            keepalive_interval=60,
            window=WINDOW,
            max_pktsize=MAX_PACKET,
            server_version="cloudclaude",
        )
        try:
            self.port = server.sockets[0].getsockname()[1]
            log.info("ssh_listening", host=settings.host, port=self.port)
            task_status.started()
            await self._stopping.wait()
        finally:
            server.close()
            for conn in list(self._ctx.connections):
                conn.close()
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await trio_asyncio.aio_as_trio(server.wait_closed)()
