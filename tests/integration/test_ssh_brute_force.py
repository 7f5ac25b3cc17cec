"""Brute force without lock-out over SSH: password failures from one address block neither
keys nor other addresses, nothing about an account shows before authentication, and
connections waiting to authenticate are capped."""

from __future__ import annotations

import attrs
import trio

from cloudclaude.core.settings import RateLimitSettings
from tests.integration.sshstack import SshStack

ELSEWHERE = ["-b", "127.0.0.2"]


async def test_hammering_passwords_from_one_address_blocks_neither_keys_nor_other_addresses(
    ssh_stack: SshStack,
) -> None:
    ssh_stack.stack.services.ssh_access.configure_limits(
        RateLimitSettings(login_per_address=1000, login_per_user=2, login_slowdown_max_s=0.5)
    )
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    by_password = ssh_stack.ssh(user, "true", key=None, extra=ELSEWHERE)
    for i in range(4):
        done = await client.run(by_password, password=f"wrong-pass-{i:04d}")
        assert done.returncode == 255
    refused = await client.run(by_password, password=user.password)
    assert refused.returncode == 255
    assert b"AUTH_007" in refused.stderr, refused.stderr
    for extra in ([], ELSEWHERE):  # keys work from anywhere, even the hammering address
        done = await client.run(ssh_stack.ssh(user, "echo in", extra=extra))
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"in\n"
    from_here = await client.run(ssh_stack.ssh(user, "echo in", key=None), password=user.password)
    assert from_here.returncode == 0, from_here.stderr


async def test_before_authentication_refused_and_unknown_accounts_look_alike(
    ssh_stack: SshStack,
) -> None:
    client = ssh_stack.client
    disabled = await ssh_stack.user_with_host(start=False)
    status, _ = await ssh_stack.stack.call("POST", f"/v1/admin/users/{disabled.user_id}/disable")
    assert status == 200

    async def attempt(login: str) -> bytes:
        argv = ssh_stack.ssh(disabled, "true", key=None, login=login)
        done = await client.run(argv, password="wrong-pass-123")
        assert done.returncode == 255
        return done.stderr.replace(login.encode(), b"NAME")

    seen_disabled = await attempt(disabled.username)
    seen_unknown = await attempt("nobody-here")
    assert seen_disabled == seen_unknown
    assert b"Permission denied" in seen_disabled
    assert b"AUTH_002" not in seen_disabled
    # Only once a credential of theirs is accepted is the user told why.
    done = await client.run(ssh_stack.ssh(disabled, "true"))
    assert done.returncode == 255
    assert b"This account is disabled. (AUTH_002" in done.stderr, done.stderr


async def test_connections_waiting_to_authenticate_are_capped(ssh_stack: SshStack) -> None:
    live = ssh_stack.stack.live
    live.current = attrs.evolve(
        live.current, ssh=attrs.evolve(live.current.ssh, max_unauthenticated=2)
    )
    port = ssh_stack.proxy.port

    async def banner(stream: trio.SocketStream) -> bytes:
        data = b""
        while b"\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
        return data

    with trio.fail_after(10):
        waiting = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        for stream in waiting:
            assert (await banner(stream)).startswith(b"SSH-2.0-cloudclaude")
        extra = await trio.open_tcp_stream("127.0.0.1", port)
        data = b""
        while chunk := await extra.receive_some():
            data += chunk  # closed at once (at most the version line got out first)
        assert b"\n" not in data.partition(b"\n")[2]
        await extra.aclose()
        for stream in waiting:
            await stream.aclose()
    user = await ssh_stack.user_with_host()
    for _ in range(50):  # the proxy notices the closed connections
        done = await ssh_stack.client.run(ssh_stack.ssh(user, "echo in"))
        if done.returncode == 0:
            break
        await trio.sleep(0.1)
    assert done.stdout == b"in\n", done.stderr
