"""The SSH proxy end to end: the real OpenSSH client, the real proxy, a real box."""

from __future__ import annotations

from tests.integration.sshstack import SshStack


async def test_key_login_runs_a_command_and_returns_its_exit_status(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    done = await client.run(client.ssh(user.username, "echo out; echo err >&2; exit 7"))
    assert done.returncode == 7, done.stderr
    assert done.stdout == b"out\n"
    assert b"err\n" in done.stderr


async def test_host_password_login(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host(key=False)
    client = ssh_stack.client
    argv = client.ssh(user.username, "whoami", key=False)
    done = await client.run(argv, password=user.password)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"claude\n"
