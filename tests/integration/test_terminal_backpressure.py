"""The web terminal's shell stream pushes back both ways instead of buffering.

Through the real stack (hypercorn on a loopback port, the session cookie, the SSH leg to the
box's sshd, tmux), with a raw WebSocket client (small socket buffers, so little hides in them):
- the box prints ``yes`` without end and the client stops reading: the box's sshd stops
  writing (the SSH window closed on it), the daemon's memory stays flat, and once the client
  reads again the box's output flows again;
- the client types without end into a box whose tmux is frozen: the client's sending stalls,
  the daemon's memory stays flat, and once tmux runs again the typing flows again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio
import wsproto
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from agent.ops import cgroups
from agent.ops.names import container_name
from tests.integration import boxes
from tests.integration.box_exec import exec_in_host
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.processes import rss
from tests.integration.sshstack import SshStack
from tests.polling import quiet, until

#: What the daemon may grow by while the box prints without end (unbounded, it is gigabytes).
RSS_SLACK = 24 * 1024 * 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def sshd_written(host_id: str) -> int:
    """Bytes the box's sshd processes have written (to the proxy's leg), read from the host."""
    info = boxes.docker_api("GET", f"/containers/{container_name(host_id)}/json").json()
    cgroup = cgroups.locate(info["State"]["Pid"], info["Id"])
    total = 0
    for pid in cgroups.pids(cgroup, 4096)[0]:
        proc = cgroups.stat(pid)
        if proc is not None and proc.comm == "sshd":
            try:
                with open(f"/proc/{pid}/io") as io:
                    total += next(int(line.split()[1]) for line in io if line.startswith("wchar"))
            except OSError:
                pass  # it ended meanwhile
    return total


async def session_cookie(base: str, trust: ssl.SSLContext) -> str:
    async with httpx.AsyncClient(base_url=base, verify=trust) as client:
        form = await client.get("/login")
        token = _CSRF.search(form.text)
        assert token is not None
        fields = {"username": "root-admin", "password": ADMIN_PASSWORD, "csrf_token": token[1]}
        signed = await client.post("/login", data=fields)
        assert signed.status_code == 302, signed.text
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


class Browser:
    """A WebSocket client that reads only when told to (wsproto over a trio socket)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.received = 0

    async def _pump(self) -> list[wsproto.events.Event]:
        data = await self.stream.receive_some(65536)
        assert data, "the server closed the connection"
        self.ws.receive_data(bytes(data))
        events = list(self.ws.events())
        for event in events:
            if isinstance(event, BytesMessage):
                self.received += len(event.data)
            elif isinstance(event, Ping):
                await self.stream.send_all(self.ws.send(event.response()))
            assert not isinstance(event, (CloseConnection, RejectConnection)), event
        return events

    async def handshake(self, host: str, target: str, cookie: str, origin: str) -> None:
        headers = [(b"cookie", cookie.encode()), (b"origin", origin.encode())]
        await self.stream.send_all(
            self.ws.send(Request(host=host, target=target, extra_headers=headers))
        )
        while not any(isinstance(event, AcceptConnection) for event in await self._pump()):
            pass

    async def type(self, text: str) -> None:
        message = json.dumps({"type": "input", "data": text})
        await self.stream.send_all(self.ws.send(TextMessage(data=message)))

    async def read_until(self, total: int) -> None:
        while self.received < total:
            await self._pump()


@asynccontextmanager
async def terminal(ssh_stack: SshStack, host_id: str) -> AsyncIterator[Browser]:
    """The page's WebSocket over TLS, on a socket with small buffers, read only when asked."""
    url = urllib.parse.urlsplit(ssh_stack.url)
    assert url.hostname is not None and url.port is not None
    cookie = await session_cookie(ssh_stack.url, ssh_stack.trust())
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    await sock.connect((url.hostname, url.port))
    stream = trio.SSLStream(
        trio.SocketStream(sock), ssh_stack.trust(), server_hostname=url.hostname
    )
    try:
        browser = Browser(stream)
        target = f"/me/hosts/{host_id}/terminal/ws?cols=200&rows=50"
        await browser.handshake(url.netloc, target, cookie, f"{url.scheme}://{url.netloc}")
        yield browser
    finally:
        await stream.aclose()


async def box_running(ssh_stack: SshStack, pane: str) -> str:
    """A running host (half a core) whose tmux session ``claude`` runs ``pane``."""
    stack = ssh_stack.stack
    user_id, _ = await stack.user()
    body = {"user_id": user_id, "disk_gb": 1, "cpus": 0.5}
    status, host = await stack.call("POST", "/v1/admin/hosts", json=body)
    assert status == 201, host
    assert (await stack.wait_task(host["task_id"]))["status"] == "succeeded"
    _, started = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/start")
    assert (await stack.wait_task(started["task_id"]))["status"] == "succeeded"
    tmux = ["tmux", "new-session", "-d", "-s", "claude", "-x", "200", "-y", "50", pane]
    assert (await exec_in_host(host["id"], tmux, "claude")).exit_code == 0
    return str(host["id"])


def signal_tmux(host_id: str, number: signal.Signals) -> None:
    """Freeze or thaw the box's tmux (server and clients) from the host."""
    info = boxes.docker_api("GET", f"/containers/{container_name(host_id)}/json").json()
    for pid in cgroups.pids(cgroups.locate(info["State"]["Pid"], info["Id"]), 4096)[0]:
        proc = cgroups.stat(pid)
        if proc is not None and proc.comm.startswith("tmux"):
            os.kill(pid, number)


async def test_a_browser_that_stops_reading_holds_the_box_back(ssh_stack: SshStack) -> None:
    host_id = await box_running(ssh_stack, "yes")
    async with terminal(ssh_stack, host_id) as browser:
        with trio.fail_after(60):
            await browser.read_until(1)  # tmux is drawing
        before = rss()

        async def written() -> int:
            return await trio.to_thread.run_sync(sshd_written, host_id)

        with trio.fail_after(120):  # not reading: the box's side stops, for good
            stalled = await quiet(written, window=3.0, interval=0.5)
        assert rss() - before < RSS_SLACK

        async def flowing() -> bool:
            return await written() > stalled

        with trio.fail_after(60):  # reading again: the box's output moves again
            async with trio.open_nursery() as nursery:
                nursery.start_soon(browser.read_until, 2**62)
                await until(flowing, interval=0.2)
                nursery.cancel_scope.cancel()


async def test_a_box_that_stops_reading_holds_the_browsers_typing_back(
    ssh_stack: SshStack,
) -> None:
    host_id = await box_running(ssh_stack, "stty raw -echo; cat >/dev/null")
    async with terminal(ssh_stack, host_id) as browser:
        with trio.fail_after(60):
            await browser.read_until(1)  # tmux is drawing
        signal_tmux(host_id, signal.SIGSTOP)
        try:
            before = rss()
            typed = 0

            async def typist() -> None:
                nonlocal typed
                while True:
                    await browser.type("y" * 65536)
                    typed += 1

            async def count() -> int:
                return typed

            async with trio.open_nursery() as nursery:
                nursery.start_soon(browser.read_until, 2**62)  # tmux's redraws, if any
                nursery.start_soon(typist)
                with trio.fail_after(120):  # the box reads nothing: typing stops, for good
                    stalled = await quiet(count, window=3.0, interval=0.5)
                assert rss() - before < RSS_SLACK
                signal_tmux(host_id, signal.SIGCONT)

                async def flowing() -> bool:
                    return typed > stalled

                with trio.fail_after(60):  # the box reads again: so does the daemon
                    await until(flowing, interval=0.2)
                nursery.cancel_scope.cancel()
        finally:
            signal_tmux(host_id, signal.SIGCONT)
