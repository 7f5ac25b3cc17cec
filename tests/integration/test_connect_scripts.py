"""The curl flows end to end: ``curl … | sh`` under a real pty, against the real daemon's HTTP
server and SSH proxy, into a real box; every exit code the scripts promise."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import asyncssh
import attrs
import trio
import trio_asyncio

from tests.integration.box_exec import exec_in_host
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.sshclient import PtySession
from tests.integration.sshstack import BoxUser, SshStack


async def curl_sh(
    nursery: trio.Nursery, ssh_stack: SshStack, path: str, args: str = "", server: str = ""
) -> PtySession:
    """The pinned one-liner ``curl … SERVER/path | sh -s -- args`` under a pty (the password
    comes from /dev/tty)."""
    command = f"{ssh_stack.curl} {server or ssh_stack.url}{path} | sh -s -- {args}"
    return await PtySession.start(nursery, ["sh", "-c", command], ssh_stack.client.env())


async def exit_code(session: PtySession) -> int:
    with trio.fail_after(120):
        await session.process.wait()
    await session.drain()
    await session.close()
    code = session.process.returncode
    assert code is not None
    return code


async def bootstrap(
    nursery: trio.Nursery, ssh_stack: SshStack, user: BoxUser, password: str
) -> PtySession:
    session = await curl_sh(nursery, ssh_stack, "/v1/bootstrap/script", user.username)
    await session.expect(f"Password for {user.username}: ")
    await session.send(password.encode() + b"\r")
    return session


async def login_password(ssh_stack: SshStack, user: BoxUser) -> str:
    status, body = await ssh_stack.stack.call(
        "POST",
        f"/v1/admin/users/{user.user_id}/rotate-password",
        # The admin's own password: the stack's sign-in may be older than auth.recent_auth_s.
        json={"password": "pass-word-1234", "current_password": ADMIN_PASSWORD},
    )
    assert status == 200, body
    return "pass-word-1234"


async def test_bootstrap_lands_in_the_box_after_progress_lines(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(start=False, key=False)
    password = await login_password(ssh_stack, user)
    async with trio.open_nursery() as nursery:
        session = await bootstrap(nursery, ssh_stack, user, password)
        await session.expect("starting: host.running")
        await session.expect(r"0:claude")  # tmux's status line: attached
        await session.send(b"\x021")
        await session.send(b"echo inside-$((20+3))\r")
        await session.expect("inside-23")
        await session.close()


async def test_the_script_pins_every_call_it_makes(ssh_stack: SshStack, tmp_path: Path) -> None:
    """The served script checks the pin on each call: with another key in PIN (a server that
    is not this one), the password never reaches the daemon and the script exits 2."""
    user = await ssh_stack.user_with_host(start=False, key=False)
    password = await login_password(ssh_stack, user)
    status, before = await ssh_stack.stack.call("GET", f"/v1/admin/users/{user.user_id}")
    assert status == 200
    fetched = await trio.run_process(
        ["sh", "-c", f"{ssh_stack.curl} {ssh_stack.url}/v1/bootstrap/script"],
        capture_stdout=True,
    )
    script = fetched.stdout.decode()
    assert f"PIN='{ssh_stack.pin}'" in script
    wrong = "sha256//" + base64.b64encode(hashlib.sha256(b"not the key").digest()).decode()
    (tmp_path / "connect.sh").write_text(script.replace(ssh_stack.pin, wrong))
    async with trio.open_nursery() as nursery:
        command = ["sh", str(tmp_path / "connect.sh"), user.username]
        session = await PtySession.start(nursery, command, ssh_stack.client.env())
        await session.expect(f"Password for {user.username}: ")
        await session.send(password.encode() + b"\r")
        assert await exit_code(session) == 2
    assert "curl exit 90" in session.text()  # CURLE_SSL_PINNEDPUBKEYNOTMATCH
    status, after = await ssh_stack.stack.call("GET", f"/v1/admin/users/{user.user_id}")
    assert status == 200
    assert after["last_login_at"] == before["last_login_at"]  # the password never arrived


async def test_entry_link_lands_in_the_box(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(start=False, key=False)
    async with trio.open_nursery() as nursery:
        session = await curl_sh(nursery, ssh_stack, f"/entry/{user.short_id}")
        await session.expect(f"Password for box {user.short_id}: ")
        await session.send(user.password.encode() + b"\r")
        await session.expect("starting: host.running")
        await session.expect(r"0:claude")
        await session.send(b"\x021")
        await session.send(b"echo entry-$((40+4))\r")
        await session.expect("entry-44")
        await session.close()


async def test_bootstrap_exit_codes_for_refused_logins(ssh_stack: SshStack) -> None:
    stack = ssh_stack.stack
    async with trio.open_nursery() as nursery:
        user = await ssh_stack.user_with_host(start=False, key=False)
        password = await login_password(ssh_stack, user)
        assert await exit_code(await bootstrap(nursery, ssh_stack, user, "wrong-password")) == 10

        await stack.call("POST", f"/v1/admin/users/{user.user_id}/disable")
        assert await exit_code(await bootstrap(nursery, ssh_stack, user, password)) == 11
        await stack.call("POST", f"/v1/admin/users/{user.user_id}/enable")

        past = {"expires_at": "2020-01-01T00:00:00Z"}
        await stack.call("POST", f"/v1/admin/users/{user.user_id}/expiry", json=past)
        assert await exit_code(await bootstrap(nursery, ssh_stack, user, password)) == 12

        hostless_id, _ = await stack.user()
        status, hostless = await stack.call("GET", f"/v1/admin/users/{hostless_id}")
        assert status == 200
        nobody = BoxUser(hostless["username"], hostless_id, "", {}, None)
        rotated = await login_password(ssh_stack, nobody)
        assert await exit_code(await bootstrap(nursery, ssh_stack, nobody, rotated)) == 13


async def test_entry_exit_codes(ssh_stack: SshStack) -> None:
    async with trio.open_nursery() as nursery:
        user = await ssh_stack.user_with_host(start=False, key=False)
        wrong = await curl_sh(nursery, ssh_stack, f"/entry/{user.short_id}")
        await wrong.expect("Password for box")
        await wrong.send(b"not-the-password\r")
        assert await exit_code(wrong) == 10

        unknown = await curl_sh(nursery, ssh_stack, "/entry/zzzzzzzz")
        await unknown.expect("Password for box")
        await unknown.send(b"whatever\r")
        assert await exit_code(unknown) == 13


async def test_start_failure_and_sshd_failure_exit_14_and_15(ssh_stack: SshStack) -> None:
    stack = ssh_stack.stack
    async with trio.open_nursery() as nursery:
        broken = await ssh_stack.user_with_host(start=False, key=False)
        password = await login_password(ssh_stack, broken)
        # A container that cannot be created: the start task fails (exit 14).
        await stack.services.db.execute(
            "UPDATE hosts SET memory_mb = 1 WHERE id = $1", broken.host_id
        )
        await stack.services.agent.remove_host(str(broken.host_id), purge=False)
        assert await exit_code(await bootstrap(nursery, ssh_stack, broken, password)) == 14

        deaf = await ssh_stack.user_with_host(start=True, key=False)
        password = await login_password(ssh_stack, deaf)
        # The box's sshd no longer accepts the proxy's key: the session cannot open (exit 15).
        reply = await exec_in_host(
            str(deaf.host_id), ["sh", "-c", ": > /etc/ssh/cloudclaude_authorized_keys"], user="root"
        )
        assert reply.exit_code == 0, reply
        deaf_session = await bootstrap(nursery, ssh_stack, deaf, password)
        assert await exit_code(deaf_session) == 15, deaf_session.text()


async def test_a_host_without_an_exit_exits_16(ssh_stack: SshStack) -> None:
    stack = ssh_stack.stack
    user = await ssh_stack.user_with_host(start=False, key=False)
    status, bindings = await stack.call("GET", f"/v1/admin/bindings?host_id={user.host_id}")
    assert status == 200 and len(bindings["items"]) == 1, bindings
    status, _ = await stack.call("DELETE", f"/v1/admin/bindings/{bindings['items'][0]['id']}")
    assert status == 204
    password = await login_password(ssh_stack, user)
    async with trio.open_nursery() as nursery:
        session = await bootstrap(nursery, ssh_stack, user, password)
        assert await exit_code(session) == 16
    assert "NET_001" in session.text()


async def test_an_unreachable_server_exits_2(ssh_stack: SshStack) -> None:
    """The script names the server the client asked for; here one where nothing listens."""
    command = (
        f"{ssh_stack.curl} -H 'Host: 127.0.0.1:9' {ssh_stack.url}/v1/bootstrap/script"
        " | sh -s -- someone"
    )
    async with trio.open_nursery() as nursery:
        script = await PtySession.start(nursery, ["sh", "-c", command], ssh_stack.client.env())
        await script.expect("Password for someone: ")
        await script.send(b"x\r")
        assert await exit_code(script) == 2


class Rogue(asyncssh.SSHServer):
    """An SSH server with another host key, recording any authentication attempt."""

    attempts: list[str] = []

    def begin_auth(self, username: str) -> bool:
        Rogue.attempts.append(username)
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        Rogue.attempts.append(password)
        return False


async def test_a_wrong_proxy_host_key_stops_before_the_ticket_is_sent(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(start=False, key=False)
    password = await login_password(ssh_stack, user)
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await trio_asyncio.aio_as_trio(asyncssh.create_server)(
        Rogue, "127.0.0.1", 0, server_host_keys=[key]
    )
    try:
        live = ssh_stack.stack.live
        port = server.sockets[0].getsockname()[1]
        live.current = attrs.evolve(
            live.current, ssh=attrs.evolve(live.current.ssh, public_port=port)
        )
        async with trio.open_nursery() as nursery:
            session = await bootstrap(nursery, ssh_stack, user, password)
            code = await exit_code(session)
        assert code == 255
        assert "Host key verification failed" in session.text()
        assert Rogue.attempts == []
    finally:
        server.close()


async def test_after_the_session_the_host_key_is_offered_for_known_hosts(
    ssh_stack: SshStack,
) -> None:
    user = await ssh_stack.user_with_host(start=False, key=False)
    known_hosts = ssh_stack.client.workdir / ".ssh" / "known_hosts"
    fingerprint = ssh_stack.stack.services.ssh_host_key.get_fingerprint("sha256")
    for answer in (b"n", b"y"):
        async with trio.open_nursery() as nursery:
            session = await curl_sh(nursery, ssh_stack, f"/entry/{user.short_id}")
            await session.expect(f"Password for box {user.short_id}: ")
            await session.send(user.password.encode() + b"\r")
            await session.expect(r"0:claude")
            await session.send(b"\x021")  # the shell window
            await session.send(b"tmux detach-client\r")  # the ssh session ends, the box goes on
            await session.expect("detached")
            await session.expect("host key is " + re.escape(fingerprint))  # a pattern
            await session.send(answer + b"\r")
            assert await exit_code(session) == 0
        if answer == b"n":
            assert not known_hosts.exists()
    lines = known_hosts.read_text().splitlines()
    assert len(lines) == 1 and lines[0] == ssh_stack.client.known_hosts.read_text().strip()
    assert "added the host key" in session.text()
