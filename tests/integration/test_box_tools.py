"""A box has the tools a developer (and Claude Code) reaches for, and ``rsync`` works through
the SSH proxy (real OpenSSH client and rsync, the real proxy, a real box).

The tools come from ``image/Dockerfile`` (Debian packages); each is on the box user's PATH and
runs. Man pages are installed, not excluded by dpkg.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

from tests.integration.sshstack import SshStack

#: Each tool and a command that shows it runs (a version, mostly).
TOOLS = {
    "rsync": "rsync --version",
    "wget": "wget --version",
    "unzip": "unzip -v",
    "zip": "zip -v",
    "pip": "pip --version",
    "pip3": "python3 -m pip --version",
    "pipx": "pipx --version",
    "vim": "vim --version",
    "htop": "htop --version",
    "tree": "tree --version",
    "file": "file --version",
    "lsof": "lsof -v",
    "strace": "strace -V",
    "sqlite3": "sqlite3 --version",
    "fdfind": "fdfind --version",
    "fd": "fd --version",
    "gh": "gh --version",
    "man": "man --version",
}


def _check_all() -> str:
    """One shell script for the box: a line ``ok NAME PATH`` or ``FAIL NAME …`` per tool."""
    lines = []
    for name, command in TOOLS.items():
        lines.append(
            f"p=$(command -v {name}) && {command} >/dev/null 2>&1"
            f' && echo "ok {name} $p" || echo "FAIL {name} (path: $p)"'
        )
    return "\n".join(lines)


async def test_each_tool_is_on_the_path_and_runs(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    done = await ssh_stack.client.run(ssh_stack.ssh(user, _check_all()))
    assert done.returncode == 0, done.stderr
    report = done.stdout.decode().splitlines()
    assert [line for line in report if not line.startswith("ok ")] == [], report
    assert sorted(line.split()[1] for line in report) == sorted(TOOLS)


async def test_man_pages_are_there(ssh_stack: SshStack) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    found = await client.run(ssh_stack.ssh(user, "man -w ls && man -w 7 signal && man -w rsync"))
    assert found.returncode == 0, found.stderr
    assert found.stdout.decode().split() == [
        "/usr/share/man/man1/ls.1.gz",
        "/usr/share/man/man7/signal.7.gz",
        "/usr/share/man/man1/rsync.1.gz",
    ]
    page = await client.run(ssh_stack.ssh(user, "MANPAGER=cat man ls | head -20"))
    assert b"list directory contents" in page.stdout, page


async def test_rsync_through_the_proxy_copies_a_tree_both_ways(
    ssh_stack: SshStack, tmp_path: Path
) -> None:
    user = await ssh_stack.user_with_host()
    client = ssh_stack.client
    assert user.key is not None
    source = tmp_path / "tree"
    (source / "sub").mkdir(parents=True)
    (source / "big.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    (source / "sub" / "small.txt").write_text("hello from the laptop\n")
    digests = {
        path.relative_to(source).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in source.rglob("*")
        if path.is_file()
    }
    shell = shlex.join(["ssh", *client.options(user.key), "-p", str(client.port)])
    remote = f"{user.username}@127.0.0.1"

    up = await client.run(["rsync", "-a", "--stats", "-e", shell, f"{source}/", f"{remote}:tree/"])
    assert up.returncode == 0, up.stderr
    in_box = await client.run(ssh_stack.ssh(user, "cd tree && sha256sum big.bin sub/small.txt"))
    assert in_box.returncode == 0, in_box.stderr
    assert {
        name: digest
        for digest, name in (line.split() for line in in_box.stdout.decode().splitlines())
    } == digests

    # Again after a change: rsync sends only what changed (its delta transfer over the proxy).
    # (Another size: rsync's quick check compares size and mtime, and a second may not pass.)
    changed = b"changed on the laptop, and longer\n"
    (source / "sub" / "small.txt").write_bytes(changed)
    digests["sub/small.txt"] = hashlib.sha256(changed).hexdigest()
    again = await client.run(
        ["rsync", "-a", "--stats", "-e", shell, f"{source}/", f"{remote}:tree/"]
    )
    assert again.returncode == 0, again.stderr
    assert b"Number of regular files transferred: 1\n" in again.stdout, again.stdout

    back = tmp_path / "back"
    down = await client.run(["rsync", "-a", "-e", shell, f"{remote}:tree/", f"{back}/"])
    assert down.returncode == 0, down.stderr
    assert {
        path.relative_to(back).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in back.rglob("*")
        if path.is_file()
    } == digests
