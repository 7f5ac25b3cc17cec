"""A host stack plus the SSH proxy on an ephemeral loopback port, and users to log in with."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import trio

from cloudclaude.app.supervisor import proxy_context
from cloudclaude.core.settings import Settings, WebSettings
from cloudclaude.model.audit import Actor
from cloudclaude.sshproxy.server import SshProxy
from tests.integration.hoststack import Stack, open_stack
from tests.integration.sshclient import SshClient
from web.server import WebServer


@attrs.define
class BoxUser:
    username: str
    user_id: str
    password: str
    host: dict[str, Any]
    key: Path | None

    @property
    def host_id(self) -> uuid.UUID:
        return uuid.UUID(self.host["id"])

    @property
    def short_id(self) -> str:
        return str(self.host["short_id"])


@attrs.define
class SshStack:
    stack: Stack
    proxy: SshProxy
    client: SshClient
    #: The HTTP server's base URL (hypercorn on a loopback port), for the curl flows.
    url: str
    #: The public-key pin of its certificate, as the one-liners use it.
    pin: str

    def trust(self) -> ssl.SSLContext:
        """A client context trusting the stack's local CA (names checked, as browsers do)."""
        tls = self.stack.services.tls
        assert tls is not None and tls.local is not None
        return ssl.create_default_context(cafile=str(tls.local.ca_cert))

    @property
    def curl(self) -> str:
        """curl as the printed one-liners call it: pinned to the server's key."""
        return f"curl -fsSL -k --pinnedpubkey '{self.pin}'"

    async def user_with_host(self, *, start: bool = True, key: bool = True) -> BoxUser:
        """A user with one host (running unless ``start`` is False) and the test key."""
        stack = self.stack
        user_id, _ = await stack.user()
        status, user = await stack.call("GET", f"/v1/admin/users/{user_id}")
        assert status == 200, user
        status, host = await stack.call(
            "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1}
        )
        assert status == 201, host
        assert (await stack.wait_task(host["task_id"]))["status"] == "succeeded"
        if start:
            _, started = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/start")
            assert (await stack.wait_task(started["task_id"]))["status"] == "succeeded"
        key_path = None
        if key:
            key_path, public = self.client.new_key()
            await stack.services.accounts.add_key(Actor(name="test"), uuid.UUID(user_id), public)
        return BoxUser(user["username"], user_id, host["ssh_password"], host, key_path)

    def ssh(self, user: BoxUser, *command: str, login: str = "", **kwargs: Any) -> list[str]:
        """``ssh`` as ``user`` with their key (``key=None`` for password auth)."""
        kwargs.setdefault("key", user.key)
        return self.client.ssh(login or user.username, *command, **kwargs)


async def open_ssh_stack(
    settings: Settings, db: Any, boxes_state: Path, workdir: Path, *, fresh: bool = True
) -> AsyncIterator[SshStack]:
    settings = attrs.evolve(settings, ssh=attrs.evolve(settings.ssh, host="127.0.0.1", port=0))
    async for stack in open_stack(settings, db, boxes_state, workers=True, fresh=fresh):
        stopping = trio.Event()
        proxy = SshProxy(proxy_context(stack.services), stack.services.ssh_host_key, stopping)
        tls = stack.services.tls  # served like production: TLS from the local CA
        web = WebServer(stack.app, WebSettings(host="127.0.0.1", port=0), stopping, tls)
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.run)
            await nursery.start(web.run)
            current = stack.live.current
            ssh = attrs.evolve(current.ssh, public_port=proxy.port)
            stack.live.current = attrs.evolve(current, ssh=ssh)
            client = SshClient(workdir, proxy.port, stack.services.ssh_host_key)
            try:
                pin = tls.client_pin if tls is not None else ""
                yield SshStack(stack, proxy, client, web.binds[0], pin)
            finally:
                stopping.set()
