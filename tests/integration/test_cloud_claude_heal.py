"""``cloud-claude connect`` heals: the CLI installed by the one-liner runs on a pty as in a
user's terminal, attached through the real SSH proxy to a real box's tmux; its TCP connections
to the proxy are killed (``ss -K``) until the drop is long enough to show the status line, a
line is typed meanwhile, and after the reconnect that line has run in the same tmux pane.
With a short limit and the proxy kept out of reach it gives up with NET_018 and exit 7; a
``--new-session`` session is found again by its name after a drop.

Nothing asserts on durations: the drops are made to last until the CLI shows what it is
waiting for, and the deadlines only bound a broken run.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from bench.pty_terminal import WAIT_S, Terminal, running
from cloudclaude.client.outage import LIMIT_ENV
from tests.integration.laptop import Laptop, signed_in_laptop
from tests.integration.sshstack import SshStack


@contextlib.asynccontextmanager
async def connected(laptop: Laptop, *args: str, **env: str) -> AsyncIterator[Terminal]:
    """``cloud-claude connect ARGS`` on a terminal, cleaned up also when the test fails."""
    full = {**laptop.env, "TERM": "xterm", **env}
    async with running(["cloud-claude", "connect", *args], full, laptop.home) as terminal:
        yield terminal


@contextlib.asynccontextmanager
async def proxy_out_of_reach(stack: SshStack) -> AsyncIterator[None]:
    """Every TCP connection to the proxy killed as soon as it shows, until the block ends."""
    kill = ["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{stack.proxy.port}"]

    async def killing() -> None:
        while True:
            await trio.run_process(kill, capture_stdout=True, capture_stderr=True, check=False)
            await trio.sleep(0.02)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(killing)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()


async def in_box(laptop: Laptop, short_id: str, script: str) -> str:
    done = await laptop.run("ssh", short_id, "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


async def until(laptop: Laptop, short_id: str, script: str, wanted: str, term: Terminal) -> str:
    """Run ``script`` in the box until its output contains ``wanted``."""
    with trio.move_on_after(WAIT_S):
        while wanted not in (seen := await in_box(laptop, short_id, script)):
            assert term.process.poll() is None, term.shown()
            await trio.sleep(0.2)
        return seen
    raise AssertionError(f"{script!r} never showed {wanted!r}; the CLI showed:\n{term.shown()}")


async def new_client(
    laptop: Laptop, short_id: str, session: str, term: Terminal, old: frozenset[str] = frozenset()
) -> str:
    """The pid of a tmux client attached to ``session`` that is not one of ``old``."""
    listing = f"tmux list-clients -t ={session} -F '#{{client_pid}}' 2>/dev/null || true"
    with trio.move_on_after(WAIT_S):
        while not (found := set((await in_box(laptop, short_id, listing)).split()) - old):
            assert term.process.poll() is None, term.shown()
            await trio.sleep(0.2)
        return found.pop()
    raise AssertionError(f"no new client on {session}; the CLI showed:\n{term.shown()}")


async def a_box(stack: SshStack, tmp_path: Path) -> tuple[Laptop, str]:
    laptop = await signed_in_laptop(stack, tmp_path / "home")
    made = await laptop.run("create", "--json")
    assert made.returncode == 0, made.stderr
    return laptop, str(json.loads(made.stdout)["short_id"])


async def test_a_drop_heals_into_the_same_pane_with_what_was_typed(
    ssh_stack: SshStack, tmp_path: Path
) -> None:
    laptop, short_id = await a_box(ssh_stack, tmp_path)
    # The session "claude" with a shell in it (Claude Code would take the typed line instead).
    pane = await in_box(
        laptop,
        short_id,
        "tmux new-session -d -s claude && tmux display -p -t =claude: '#{pane_id}'",
    )
    assert pane.startswith("%")
    async with connected(laptop, short_id) as terminal:
        first = await new_client(laptop, short_id, "claude", terminal)
        marker = f"typed-{random.randrange(10**9)}-marker"
        async with proxy_out_of_reach(ssh_stack):
            await terminal.expect(b"connection lost")  # the status line, once it is noticeable
            terminal.type(f"echo {marker} $TMUX_PANE > /tmp/typed\r".encode())
            await terminal.expect(b" B typed")  # kept, not sent
        ran = await until(laptop, short_id, "cat /tmp/typed 2>/dev/null || true", marker, terminal)
        assert ran == f"{marker} {pane}"  # it ran in the pane the user was looking at
        assert await in_box(laptop, short_id, "tmux display -p -t =claude: '#{pane_id}'") == pane
        assert b"\x1b7" in terminal.output  # drawn on the last row, the cursor saved
        await new_client(laptop, short_id, "claude", terminal, frozenset({first}))

        # The shell exits: the remote session ended, which is no drop; its status passes.
        terminal.type(b"exit\r")
        assert await terminal.wait() == 0, terminal.shown()


async def test_it_gives_up_with_net_018_and_exit_7(ssh_stack: SshStack, tmp_path: Path) -> None:
    laptop, short_id = await a_box(ssh_stack, tmp_path)
    await in_box(laptop, short_id, "tmux new-session -d -s claude")
    async with connected(laptop, short_id, **{LIMIT_ENV: "3"}) as terminal:
        await new_client(laptop, short_id, "claude", terminal)
        async with proxy_out_of_reach(ssh_stack):
            status = await terminal.wait()
        await terminal.expect(b"NET_018")
    assert status == 7, terminal.shown()
    assert b"fix: " in terminal.output


async def test_a_new_session_is_found_again_by_its_name(
    ssh_stack: SshStack, tmp_path: Path
) -> None:
    laptop, short_id = await a_box(ssh_stack, tmp_path)
    await in_box(laptop, short_id, "tmux new-session -d -s claude")  # the plain one exists
    async with connected(laptop, short_id, "--new-session") as terminal:
        first = await new_client(laptop, short_id, "claude-2", terminal)
        await terminal.expect(b"\x1b]0;claude-2:")  # tmux's title names the session
        async with proxy_out_of_reach(ssh_stack):
            await terminal.expect(b"connection lost")
        await new_client(laptop, short_id, "claude-2", terminal, frozenset({first}))
        sessions = await in_box(laptop, short_id, "tmux list-sessions -F '#{session_name}'")
        assert sorted(sessions.split()) == ["claude", "claude-2"]  # no claude-3
