"""The SSH proxy end to end: the real OpenSSH client, the real proxy, a real box."""

from __future__ import annotations

import uuid
from typing import Any

import trio

from cloudclaude.auth.tickets import Tickets
from cloudclaude.core.settings import RateLimitSettings
from tests.integration.sshstack import BoxUser, SshStack


async def test_key_login_runs_a_command_and_returns_its_exit_status(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    done = await client.run(ssh_stack.ssh(user, "echo out; echo err >&2; exit 7"))
    assert done.returncode == 7, done.stderr
    assert done.stdout == b"out\n"
    assert b"err\n" in done.stderr


async def test_host_password_login(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    argv = ssh_stack.ssh(user, "whoami", key=None)
    done = await client.run(argv, password=user.password)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"claude\n"


async def test_wrong_password_is_refused_and_audited(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    done = await client.run(ssh_stack.ssh(user, "true", key=None), password="wrong-pass-123")
    assert done.returncode == 255
    assert b"Permission denied" in done.stderr
    events = await audit_types(ssh_stack, user, "auth.failed")
    assert [e["metadata"]["reason"] for e in events] == ["wrong_password"]


async def test_failed_logins_are_rate_limited_per_user(ssh_stack: SshStack) -> None:
    ssh_stack.stack.services.ssh_access.configure_limits(
        RateLimitSettings(login_per_address=1000, login_per_user=2, window_s=60)
    )
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    argv = ssh_stack.ssh(user, "true", key=None)
    for _ in range(2):
        assert (await client.run(argv, password="wrong-pass-123")).returncode == 255
    refused = await client.run(argv, password=user.password)  # right, but too late
    assert refused.returncode == 255
    assert b"AUTH_007" in refused.stderr, refused.stderr


async def test_disabled_and_expired_users_are_told_why(ssh_stack: SshStack) -> None:
    client = ssh_stack.client
    disabled = await ssh_stack.user_with_host(start=False)
    status, _ = await ssh_stack.stack.call("POST", f"/v1/admin/users/{disabled.user_id}/disable")
    assert status == 200
    done = await client.run(ssh_stack.ssh(disabled, "true"))
    assert done.returncode == 255
    assert b"This account is disabled. (AUTH_002" in done.stderr, done.stderr

    expired = await ssh_stack.user_with_host(start=False)
    past = {"expires_at": "2020-01-01T00:00:00Z"}
    status, body = await ssh_stack.stack.call(
        "POST", f"/v1/admin/users/{expired.user_id}/expiry", json=past
    )
    assert status == 200, body
    done = await client.run(ssh_stack.ssh(expired, "true"))
    assert done.returncode == 255
    assert b"This account has expired. (AUTH_003" in done.stderr, done.stderr


async def test_a_ticket_logs_in_once(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    ticket = await ssh_stack.stack.services.tickets.issue(uuid.UUID(user.user_id), user.host_id)
    argv = ssh_stack.ssh(user, "echo in", key=None)
    first = await client.run(argv, password=ticket)
    assert (first.returncode, first.stdout) == (0, b"in\n"), first.stderr
    again = await client.run(argv, password=ticket)
    assert again.returncode == 255


async def test_an_expired_ticket_is_refused(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    short_lived = Tickets(ssh_stack.stack.services.db, ttl_s=0.01)
    ticket = await short_lived.issue(uuid.UUID(user.user_id), user.host_id)
    await trio.sleep(0.1)
    done = await client.run(ssh_stack.ssh(user, "true", key=None), password=ticket)
    assert done.returncode == 255


async def test_a_stopped_host_is_started_on_connect_with_progress_lines(
    ssh_stack: SshStack,
) -> None:
    user = await ssh_stack.user_with_host(start=False)
    client = ssh_stack.client
    done = await client.run(
        ssh_stack.ssh(user, "echo landed", login=f"{user.username}+{user.short_id}")
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"landed\n"
    stderr = done.stderr.decode()
    for stage in ("container.started", "net.ready", "ssh.ready", "host.running"):
        assert f"starting: {stage}" in stderr, stderr
    assert await ssh_stack.stack.host_status(str(user.host_id)) == "running"


async def test_sessions_are_audited_with_bytes(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    done = await client.run(ssh_stack.ssh(user, "cat"), stdin=b"x" * 1000)
    assert done.stdout == b"x" * 1000
    with trio.fail_after(10):
        while not (closed := await audit_types(ssh_stack, user, "ssh.session.closed")):
            await trio.sleep(0.05)
    meta = closed[0]["metadata"]
    assert (meta["kind"], meta["bytes_in"], meta["bytes_out"], meta["exit_status"]) == (
        "exec",
        1000,
        1000,
        0,
    )
    assert await audit_types(ssh_stack, user, "ssh.session.opened")
    assert await audit_types(ssh_stack, user, "auth.success")


async def test_a_forward_reaches_a_port_on_the_box_only(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    to_box = await client.run(ssh_stack.ssh(user, extra=["-W", "localhost:22"]), timeout=30)
    assert to_box.stdout.startswith(b"SSH-2.0-OpenSSH"), to_box
    elsewhere = await client.run(ssh_stack.ssh(user, extra=["-W", "198.18.0.1:80"]))
    assert elsewhere.returncode == 255
    assert b"administratively prohibited" in elsewhere.stderr, elsewhere.stderr


async def audit_types(ssh_stack: SshStack, user: BoxUser, kind: str) -> list[dict[str, Any]]:
    status, page = await ssh_stack.stack.call(
        "GET", f"/v1/admin/events?type={kind}&user_id={user.user_id}"
    )
    assert status == 200, page
    return list(page["items"])
