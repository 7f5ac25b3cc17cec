"""Interactive sessions through the proxy under a real pty: tmux persistence, resize, Ctrl-C,
the session modes, and file copies with scp and sftp."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import trio

from cloudclaude.sshproxy.shell import open_shell
from tests.integration.box_exec import exec_in_host
from tests.integration.sshclient import ANSI, PtySession
from tests.integration.sshstack import BoxUser, SshStack

PREFIX = b"\x02"  # tmux's prefix key, C-b


async def interactive(
    nursery: trio.Nursery, ssh_stack: SshStack, user: BoxUser, *extra: str, cols: int = 100
) -> PtySession:
    """``ssh -tt`` into the user's box, switched to the tmux window ``shell``."""
    argv = ssh_stack.ssh(user, extra=["-tt", *extra])
    session = await PtySession.start(nursery, argv, ssh_stack.client.env(), cols=cols)
    await session.expect(r"0:claude")  # tmux's status line: session "claude" is attached
    await session.send(PREFIX + b"1")  # window 1, "shell" (window 0 runs Claude Code)
    await session.send(b"echo ready-$((40+2))\r")
    await session.expect(r"ready-42")
    session.clear()
    return session


async def test_the_tmux_session_survives_a_dropped_connection(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    async with trio.open_nursery() as nursery:
        first = await interactive(nursery, ssh_stack, user)
        marker = f"marker-{os.getpid()}"
        await first.send(f"echo {marker}-$((6*7))\r".encode())
        await first.expect(f"{marker}-42")
        await first.close()  # the connection drops; tmux keeps the session

        second = await PtySession.start(
            nursery, ssh_stack.ssh(user, extra=["-tt"]), ssh_stack.client.env()
        )
        await second.expect(f"{marker}-42")
        await second.close()


async def test_window_size_follows_the_client_and_ctrl_c_reaches_the_box(
    ssh_stack: SshStack,
) -> None:
    user = await ssh_stack.user_with_host()
    async with trio.open_nursery() as nursery:
        session = await interactive(nursery, ssh_stack, user, cols=100)
        await session.send(b"echo cols=$(tput cols)\r")
        await session.expect(r"cols=100\b")
        session.resize(132, 40)
        session.process.send_signal(28)  # SIGWINCH: ssh reads the new size and tells the box
        await trio.sleep(0.5)
        session.clear()
        await session.send(b"echo cols=$(tput cols)\r")
        await session.expect(r"cols=132\b")

        session.clear()
        await session.send(b"sleep 1000\r")
        await trio.sleep(0.5)
        await session.send(b"\x03")  # Ctrl-C
        await session.send(b"echo status=$?\r")
        await session.expect(r"status=130", timeout=10)
        await session.close()


async def test_new_and_takeover_session_modes(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    async with trio.open_nursery() as nursery:
        first = await interactive(nursery, ssh_stack, user)
        other = await PtySession.start(
            nursery,
            ssh_stack.ssh(user, extra=["-tt", "-o", "SetEnv=CLOUDCLAUDE_SESSION=new"]),
            ssh_stack.client.env(),
        )
        await other.expect(r"0:claude")
        await other.send(PREFIX + b"1")
        await other.send(b"echo session=$(tmux display -p '#S')\r")
        await other.expect(r"session=claude-2")
        await other.close()

        taker = await PtySession.start(
            nursery,
            ssh_stack.ssh(user, extra=["-tt", "-o", "SetEnv=CLOUDCLAUDE_SESSION=takeover"]),
            ssh_stack.client.env(),
        )
        await first.expect(r"detached")  # the first client was detached by the take-over
        with trio.fail_after(30):
            await first.process.wait()
        await taker.send(b"echo clients=$(tmux list-clients -t claude | wc -l)\r")
        await taker.expect(r"clients=1\b")
        await taker.close()


async def test_scp_and_sftp_round_trip_50_mb(ssh_stack: SshStack, tmp_path: Path) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(50 * 1024 * 1024))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert user.key is not None
    options = [*client.options(user.key), "-P", str(client.port)]
    remote = f"{user.username}@127.0.0.1"

    up = await client.run(["scp", *options, str(source), f"{remote}:payload.bin"])
    assert up.returncode == 0, up.stderr
    in_box = await client.run(ssh_stack.ssh(user, "sha256sum payload.bin"))
    assert in_box.stdout.split()[0].decode() == digest

    back = tmp_path / "back-scp.bin"
    down = await client.run(["scp", *options, f"{remote}:payload.bin", str(back)])
    assert down.returncode == 0, down.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest

    via_sftp = tmp_path / "back-sftp.bin"
    batch = f"put {source} sftp-copy.bin\nget sftp-copy.bin {via_sftp}\n".encode()
    sftp = await client.run(["sftp", *options, "-b", "-", remote], stdin=batch)
    assert sftp.returncode == 0, sftp.stderr
    assert hashlib.sha256(via_sftp.read_bytes()).hexdigest() == digest


async def test_the_web_terminal_shell_stream_attaches_to_the_same_tmux_session(
    ssh_stack: SshStack,
) -> None:
    user = await ssh_stack.user_with_host()
    services = ssh_stack.stack.services
    async with open_shell(services.agent, services.hosts, user.host_id, cols=90, rows=25) as shell:
        seen = bytearray()

        async def until(text: bytes) -> None:
            with trio.fail_after(60):
                while text not in ANSI.sub(b"", bytes(seen)):
                    chunk = await shell.receive()
                    assert chunk, f"the stream ended before {text!r}: {bytes(seen)!r}"
                    seen.extend(chunk)

        await until(b"0:claude")
        await shell.send(PREFIX + b"1")
        await shell.send(b"echo web-$((5+5)) cols=$(tput cols)\r")
        await until(b"web-10 cols=90")
        shell.resize(120, 30)
        await trio.sleep(0.3)
        await shell.send(b"echo wide=$(tput cols)\r")
        await until(b"wide=120")
    shown = await exec_in_host(
        str(user.host_id), ["tmux", "capture-pane", "-p", "-t", "claude:1"], user="claude"
    )
    assert "web-10" in shown.stdout
