"""Live SSH sessions and web terminals end when their user's sessions end (issue 15).

Through the real stack: the SSH proxy with the real ``ssh`` under a pty, the web terminal over
a raw WebSocket with a real session cookie, a real box with tmux, and the revocation watch
checking Postgres. A password reset by an admin (which bumps ``session_epoch``) and disabling
the account each close the user's open SSH session and web terminal, the client is told why
and the close is audited with its reason. Web terminals are audited like SSH sessions, and an
admin attaching to a user's box is announced in that user's tmux.
"""

from __future__ import annotations

import re
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import trio
import wsproto
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
)

from cloudclaude.background.revocation import RevocationWatch
from cloudclaude.model.audit import Actor, AuditEvent, AuditFilter
from tests.integration.box_exec import exec_in_host
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.sshclient import PtySession
from tests.integration.sshstack import BoxUser, SshStack
from tests.integration.test_terminal_backpressure import Browser
from tests.polling import until

PASSWORD = "revocation-test-pass-2026"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
async def watched(ssh_stack: SshStack) -> AsyncIterator[SshStack]:
    """The SSH stack with the revocation watch running (checking every 0.2 s)."""
    live = ssh_stack.stack.live
    live.current = attrs.evolve(
        live.current, ssh=attrs.evolve(live.current.ssh, revocation_check_s=0.2)
    )
    services = ssh_stack.stack.services
    stopping = trio.Event()
    watch = RevocationWatch(services.db, services.live_sessions, live, stopping, services.metrics)
    async with trio.open_nursery() as nursery:
        await nursery.start(watch.run)
        yield ssh_stack
        stopping.set()


class Terminal(Browser):
    """A web terminal client that reads until the server closes (``Browser`` asserts on it)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.output = bytearray()
        self.closed: CloseConnection | None = None

    async def _pump(self) -> list[wsproto.events.Event]:
        data = await self.stream.receive_some(65536)
        if not data:
            self.closed = self.closed or CloseConnection(code=1006)
            return []
        self.ws.receive_data(bytes(data))
        events = list(self.ws.events())
        for event in events:
            if isinstance(event, BytesMessage):
                self.output += event.data
            elif isinstance(event, Ping):
                await self.stream.send_all(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = event
        return events

    async def handshake(self, host: str, target: str, cookie: str, origin: str) -> None:
        headers = [(b"cookie", cookie.encode()), (b"origin", origin.encode())]
        await self.stream.send_all(
            self.ws.send(Request(host=host, target=target, extra_headers=headers))
        )
        with trio.fail_after(60):
            while True:
                for event in await self._pump():
                    if isinstance(event, AcceptConnection):
                        return
                    assert not isinstance(event, RejectConnection), event
                assert self.closed is None, f"closed before the handshake: {self.closed}"

    async def read_until(self, total: int) -> None:
        while len(self.output) < total:
            assert self.closed is None, f"closed: {self.closed}; {bytes(self.output)!r}"
            await self._pump()

    async def until_closed(self) -> CloseConnection:
        while self.closed is None:
            await self._pump()
        return self.closed


async def user_cookie(ssh_stack: SshStack, username: str, password: str = PASSWORD) -> str:
    base = ssh_stack.url
    verify: ssl.SSLContext | bool = ssh_stack.trust() if base.startswith("https:") else True
    async with httpx.AsyncClient(base_url=base, verify=verify) as client:
        form = await client.get("/login")
        token = _CSRF.search(form.text)
        assert token is not None
        fields = {"username": username, "password": password, "csrf_token": token[1]}
        signed = await client.post("/login", data=fields)
        assert signed.status_code == 302, signed.text
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


@asynccontextmanager
async def terminal(ssh_stack: SshStack, host_id: uuid.UUID, cookie: str) -> AsyncIterator[Terminal]:
    url = httpx.URL(ssh_stack.url)
    assert url.port is not None
    stream: trio.abc.Stream = await trio.open_tcp_stream(url.host, url.port)
    if url.scheme == "https":
        stream = trio.SSLStream(stream, ssh_stack.trust(), server_hostname=url.host)
    try:
        term = Terminal(stream)
        netloc = f"{url.host}:{url.port}"
        target = f"/me/hosts/{host_id}/terminal/ws?cols=100&rows=30"
        await term.handshake(netloc, target, cookie, f"{url.scheme}://{netloc}")
        yield term
    finally:
        await stream.aclose()


async def user_with_password(ssh_stack: SshStack) -> BoxUser:
    user = await ssh_stack.user_with_host()
    accounts = ssh_stack.stack.services.accounts
    await accounts.set_password(Actor(name="test"), uuid.UUID(user.user_id), PASSWORD)
    return user


async def events(ssh_stack: SshStack, kind: str, host_id: uuid.UUID) -> list[AuditEvent]:
    where = AuditFilter(type=kind, host_id=host_id)
    return (await ssh_stack.stack.services.audit.page(where, limit=50)).items


async def closed_with(ssh_stack: SshStack, host_id: uuid.UUID, kind: str) -> dict[str, Any]:
    """The metadata of the host's ``ssh.session.closed`` event of ``kind``, once there is one."""

    async def found() -> dict[str, Any] | None:
        for event in await events(ssh_stack, "ssh.session.closed", host_id):
            if event.metadata.get("kind") == kind:
                return event.metadata
        return None

    with trio.fail_after(30):
        return await until(found, interval=0.1)


async def ssh_session(nursery: trio.Nursery, ssh_stack: SshStack, user: BoxUser) -> PtySession:
    """An open ``ssh -tt`` running ``cat`` (what is typed comes back)."""
    argv = ssh_stack.ssh(user, "echo up-$((40+2)); exec cat", extra=["-tt"])
    session = await PtySession.start(nursery, argv, ssh_stack.client.env())
    await session.expect(r"up-42")
    return session


@pytest.mark.parametrize(
    ("action", "reason", "said"),
    [
        ("rotate-password", "sessions_ended", "password was changed or reset"),
        ("disable", "account_disabled", "the account was disabled"),
        ("expiry", "account_expired", "the account has expired"),
    ],
)
async def test_ssh_and_web_terminal_close_when_the_users_sessions_end(
    watched: SshStack, action: str, reason: str, said: str
) -> None:
    stack = watched.stack
    user = await user_with_password(watched)
    cookie = await user_cookie(watched, user.username)
    async with trio.open_nursery() as nursery:
        ssh = await ssh_session(nursery, watched, user)
        async with terminal(watched, user.host_id, cookie) as term:
            with trio.fail_after(60):
                await term.read_until(1)  # tmux is drawing
            assert len(stack.services.live_sessions) == 2
            body = {
                "rotate-password": {"password": "another-pass-2026-x"},
                "expiry": {"expires_at": "2020-01-01T00:00:00Z"},
            }.get(action)
            status, answer = await stack.call(
                "POST", f"/v1/admin/users/{user.user_id}/{action}", json=body
            )
            assert status == 200, answer

            with trio.fail_after(30):  # the watch checks every 0.2 s
                closing = await term.until_closed()
                await ssh.process.wait()
            assert closing.code == 1008
            assert said in (closing.reason or ""), closing.reason
            assert said in term.output.decode(errors="replace")
        await ssh.drain()
        assert said in ssh.text(), ssh.text()
        assert "SSH_002" in ssh.text()
        await ssh.close()

    assert (await closed_with(watched, user.host_id, "exec"))["reason"] == reason
    assert (await closed_with(watched, user.host_id, "terminal"))["reason"] == reason

    async def none_left() -> bool:
        return len(stack.services.live_sessions) == 0

    with trio.fail_after(10):
        await until(none_left, interval=0.05)


async def test_sessions_of_other_users_and_unchanged_users_stay_open(watched: SshStack) -> None:
    stack = watched.stack
    kept = await watched.user_with_host()
    ended = await watched.user_with_host()
    async with trio.open_nursery() as nursery:
        stays = await ssh_session(nursery, watched, kept)
        goes = await ssh_session(nursery, watched, ended)
        status, _ = await stack.call("POST", f"/v1/admin/users/{ended.user_id}/disable")
        assert status == 200
        with trio.fail_after(30):
            await goes.process.wait()
        services = stack.services
        watch = RevocationWatch(services.db, services.live_sessions, stack.live, trio.Event())
        assert await watch.check_once() == 0  # the other session holds
        await stays.send(b"still-open\r")
        await stays.expect(r"still-open\s+still-open")  # the pty's echo, then cat's
        assert stays.process.returncode is None
        await stays.close()
        await goes.close()


async def test_a_web_terminal_is_audited_with_actor_host_duration_and_reason(
    watched: SshStack,
) -> None:
    user = await watched.user_with_host()
    cookie = await user_cookie(watched, "root-admin", ADMIN_PASSWORD)  # on the user's box
    async with terminal(watched, user.host_id, cookie) as term:
        with trio.fail_after(60):
            await term.read_until(1)
    meta = await closed_with(watched, user.host_id, "terminal")
    assert meta["reason"] == "ended"
    assert meta["duration_s"] > 0
    assert meta["bytes_out"] > 0
    assert meta["channel"] == "web"
    opened = [
        e
        for e in await events(watched, "ssh.session.opened", user.host_id)
        if e.metadata.get("kind") == "terminal"
    ]
    assert len(opened) == 1
    event = opened[0]
    assert event.actor == "user:root-admin"
    assert event.actor_user_id is not None
    assert event.user_id == uuid.UUID(user.user_id)  # the box's owner
    assert event.host_id == user.host_id
    closed = [
        e
        for e in await events(watched, "ssh.session.closed", user.host_id)
        if e.metadata.get("kind") == "terminal"
    ]
    assert closed[0].actor == "user:root-admin"


async def test_an_admin_attaching_is_announced_in_the_users_tmux(watched: SshStack) -> None:
    user = await watched.user_with_host()
    async with trio.open_nursery() as nursery:
        argv = watched.ssh(user, extra=["-tt"])
        mine = await PtySession.start(nursery, argv, watched.client.env())
        await mine.expect(r"0:claude")  # the user is attached to tmux
        mine.clear()
        cookie = await user_cookie(watched, "root-admin", ADMIN_PASSWORD)
        async with terminal(watched, user.host_id, cookie) as term:
            with trio.fail_after(60):
                await term.read_until(1)
            await mine.expect(r"admin root-admin attached")  # in the user's status line

            async def logged() -> bool:
                shown = await exec_in_host(str(user.host_id), ["tmux", "show-messages"], "claude")
                return "admin root-admin attached" in shown.stdout

            with trio.fail_after(30):
                await until(logged, interval=0.2)
        await mine.close()


async def test_an_admin_on_another_users_box_is_closed_when_demoted(watched: SshStack) -> None:
    stack = watched.stack
    owner = await watched.user_with_host()
    admin_id, _ = await stack.user()
    accounts = stack.services.accounts
    await accounts.set_password(Actor(name="test"), uuid.UUID(admin_id), PASSWORD)
    status, admin = await stack.call("PATCH", f"/v1/admin/users/{admin_id}", json={"role": "admin"})
    assert status == 200, admin
    cookie = await user_cookie(watched, admin["username"])
    async with terminal(watched, owner.host_id, cookie) as term:
        with trio.fail_after(60):
            await term.read_until(1)
        status, _ = await stack.call("PATCH", f"/v1/admin/users/{admin_id}", json={"role": "user"})
        assert status == 200
        with trio.fail_after(30):
            closing = await term.until_closed()
        assert "admin role was removed" in (closing.reason or ""), closing.reason
    meta = await closed_with(watched, owner.host_id, "terminal")
    assert meta["reason"] == "admin_role_removed"


async def test_signing_out_of_the_page_closes_its_web_terminal(watched: SshStack) -> None:
    """The terminal belongs to the sign-in it was opened from: /logout ends both."""
    user = await user_with_password(watched)
    cookie = await user_cookie(watched, user.username)
    other_cookie = await user_cookie(watched, user.username)  # a second browser
    async with (
        terminal(watched, user.host_id, cookie) as term,
        terminal(watched, user.host_id, other_cookie) as other,
    ):
        with trio.fail_after(60):
            await term.read_until(1)
            await other.read_until(1)
        async with httpx.AsyncClient(base_url=watched.url, verify=watched.trust()) as client:
            page = await client.get("/me", headers={"cookie": cookie})
            csrf = _CSRF.search(page.text)
            assert page.status_code == 200 and csrf is not None
            out = await client.post(
                "/logout", data={"csrf_token": csrf[1]}, headers={"cookie": cookie}
            )
            assert out.status_code in (302, 303), out.text
        with trio.fail_after(30):
            closing = await term.until_closed()
        assert "you signed out" in (closing.reason or ""), closing.reason
        meta = await closed_with(watched, user.host_id, "terminal")
        assert meta["reason"] == "signed_out"
        assert other.closed is None  # the other browser's terminal stays open
