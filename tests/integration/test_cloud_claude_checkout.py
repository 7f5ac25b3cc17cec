"""``cloud-claude`` in a git checkout, end to end: the CLI installed by the one-liner, a real
box through the real daemon and SSH proxy, real ``ssh``, sshfs made by the agent, the CLI on a
pty as a user's terminal.

Asserted: Claude Code's tmux session, named after the checkout, runs in the box in the
checkout's own absolute path; files cross both ways; a write to ``.git/hooks`` from the box is
refused; ``laptop-git push`` from the box runs on the laptop with its hooks off and is shown
in the CLI's output, and a request with ``-c`` is refused; after the TCP connections are
killed (``ss -K``) the mount comes back by itself and Claude Code is started again in the
same pane. The checkout lives under ``/home`` (the agent refuses ``/tmp``, which the box owns).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from bench.pty_terminal import WAIT_S, Terminal, running
from cloudclaude.client.checkout import session_name
from tests.integration.laptop import Laptop, signed_in_laptop
from tests.integration.sshstack import SshStack


@pytest.fixture
def laptop_dir() -> Iterator[Path]:
    """A directory under /home for the laptop's home and checkout, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="cc-laptop-", dir="/home"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def make_checkout(base: Path) -> tuple[Path, Path]:
    """A checkout with a commit, a bare remote, and a pre-push hook that leaves a mark."""
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    checkout = base / "src" / "proj"
    checkout.mkdir(parents=True)
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "config", "user.email", "ann@example.test")
    git(checkout, "config", "user.name", "Ann")
    (checkout / "README").write_text("from the laptop\n")
    git(checkout, "add", "README")
    git(checkout, "commit", "-q", "-m", "first")
    git(checkout, "remote", "add", "origin", str(remote))
    hook = checkout / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\ntouch {base}/hook-ran\n")
    hook.chmod(0o755)
    return checkout, remote


async def until(check: object, what: str, terminal: Terminal | None) -> None:
    """Poll ``check`` (an async callable returning truth) until it holds; the CLI on
    ``terminal`` (None: none runs) must not end meanwhile."""
    assert callable(check)
    with trio.move_on_after(WAIT_S):
        while not await check():
            assert terminal is None or terminal.process.poll() is None, terminal.shown()
            await trio.sleep(0.3)
        return
    shown = terminal.shown() if terminal is not None else "(none runs)"
    raise AssertionError(f"{what}; the CLI showed:\n{shown}")


async def in_box(laptop: Laptop, short_id: str, script: str) -> subprocess.CompletedProcess[bytes]:
    return await laptop.run("ssh", short_id, "--", "sh", "-c", script)


async def test_claude_runs_in_the_box_on_the_laptops_checkout_and_heals(
    ssh_stack: SshStack, laptop_dir: Path
) -> None:
    laptop = await signed_in_laptop(ssh_stack, laptop_dir / "home")
    made = await laptop.run("create", "--json")
    assert made.returncode == 0, made.stderr
    short_id = made.stdout.split(b'"short_id": "')[1].split(b'"')[0].decode()
    checkout, remote = make_checkout(laptop_dir)
    name = session_name(checkout)
    env = {**laptop.env, "TERM": "xterm"}
    async with running(["cloud-claude"], env, checkout) as terminal:

        async def mounted() -> bool:
            seen = await in_box(laptop, short_id, f"cat {checkout}/README")
            return seen.stdout == b"from the laptop\n"

        await until(mounted, "the checkout never showed in the box", terminal)

        async def session_up() -> bool:
            listed = await in_box(laptop, short_id, "tmux list-sessions -F '#{session_name}'")
            return name in listed.stdout.decode().split()

        await until(session_up, f"no tmux session {name}", terminal)
        where = await in_box(
            laptop, short_id, f"tmux display -p -t '={name}:claude' '#{{pane_current_path}}'"
        )
        assert where.stdout.decode().strip() == str(checkout)

        # Both ways.
        wrote = await in_box(laptop, short_id, f"echo from the box > {checkout}/from-box")
        assert wrote.returncode == 0, wrote.stderr
        assert (checkout / "from-box").read_text() == "from the box\n"
        (checkout / "later").write_text("edited on the laptop\n")
        seen = await in_box(laptop, short_id, f"cat {checkout}/later")
        assert seen.stdout == b"edited on the laptop\n"

        # What would run on the laptop later stays out of the box's reach.
        hook = await in_box(laptop, short_id, f"echo evil >> {checkout}/.git/hooks/pre-push")
        assert hook.returncode != 0
        assert "evil" not in (checkout / ".git/hooks/pre-push").read_text()

        # git push at the box's request: run on the laptop, hooks off, shown.
        pushed = await in_box(laptop, short_id, f"cd {checkout} && laptop-git push origin main")
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert git(remote, "rev-parse", "main") == git(checkout, "rev-parse", "main")
        assert not (laptop_dir / "hook-ran").exists()
        assert b"git push origin main" in terminal.output
        sneaky = (
            f"cd {checkout}/.cloud-claude/git && printf 'push\\0-c\\0core.sshCommand=touch"
            f" {laptop_dir}/pwned\\0origin\\0' > x1.request && i=0 && until [ -e x1.result ];"
            " do i=$((i+1)); [ $i -gt 100 ] && exit 9; sleep 0.1; done; cat x1.result"
        )
        refused = await in_box(laptop, short_id, sneaky)
        assert b"refused" in refused.stdout, refused
        assert not (laptop_dir / "pwned").exists()

        doctor = await laptop.run("doctor", "--json", cwd=checkout)
        verdicts = {c["name"]: (c["verdict"], c["detail"]) for c in json.loads(doctor.stdout)}
        assert verdicts["mount"] == ("ok", f"{checkout} mounts in {short_id} and reads back")

        # A drop: every connection to the proxy killed. The mount comes back, and Claude Code
        # is started again in the same pane (the old one worked in the dead mount).
        pane = f"tmux display -p -t '={name}:claude' '#{{pane_id}} #{{pane_pid}}'"
        before = (await in_box(laptop, short_id, pane)).stdout.split()
        port = ssh_stack.proxy.port
        await trio.run_process(["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{port}"])

        async def restarted() -> bool:
            after = (await in_box(laptop, short_id, pane)).stdout.split()
            return len(after) == 2 and after[0] == before[0] and after[1] != before[1]

        await until(restarted, "Claude Code was not restarted in the same pane", terminal)
        await until(mounted, "the mount did not come back", terminal)

        # Leaving takes the mount down; the next cloud-claude mounts the checkout again and
        # starts Claude Code again in the same pane (the old one lost its mount).
        before = (await in_box(laptop, short_id, pane)).stdout.split()

    async def unmounted() -> bool:
        return not await mounted()

    await until(unmounted, "the mount outlived the CLI", None)
    async with running(["cloud-claude"], env, checkout) as terminal:
        await until(restarted, "a new cloud-claude did not revive Claude Code", terminal)
        await until(mounted, "the new cloud-claude did not mount the checkout", terminal)
