"""How ``cloud-claude`` in a checkout names its tmux session and builds the box's command."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cloudclaude.client import laptop_git
from cloudclaude.client.api import ApiError
from cloudclaude.client.checkout import (
    git_root,
    remote_command,
    require_checkout,
    session_name,
)
from cloudclaude.client.mount_channel import MountChannel, checkable_path


def test_the_session_is_named_after_the_checkout_and_its_path() -> None:
    a = session_name(Path("/home/ann/src/my.app"))
    b = session_name(Path("/home/ann/other/my.app"))
    assert a.startswith("cc-my-app-") and b.startswith("cc-my-app-")
    assert a != b  # same name, other path: other session
    assert session_name(Path("/home/ann/src/my.app")) == a  # stable
    assert all(c.isalnum() or c in "-_" for c in session_name(Path("/x/a b:c.d;$(rm)")))


@pytest.mark.parametrize(("takeover", "flags"), [(False, "-A"), (True, "-A -D")])
def test_the_box_command_attaches_or_makes_the_session_in_the_checkout(
    takeover: bool, flags: str
) -> None:
    root = Path("/home/ann/my proj")
    command = remote_command(root, "cc-p", ["-p", "it's; rm -rf /"], takeover)
    tail = command.split(f"cd {shlex.quote(str(root))} && ", 1)[1]
    assert tail.startswith(f"exec tmux new-session {flags} -s cc-p -n claude ")
    words = shlex.split(tail)
    assert words[-1] == "claude -p 'it'\"'\"'s; rm -rf /'; exec ${SHELL:-/bin/bash} -l"
    assert words[words.index("-c") + 1] == str(root)
    assert "/run/cloudclaude/booted" in command  # waits for the box to boot, as attach-claude


def test_claude_in_a_dead_mount_is_restarted_in_the_same_pane_before_attaching() -> None:
    command = remote_command(Path("/w/p"), "cc-p", ["--model", "x y"], False)
    window = shlex.quote("claude --model 'x y'; exec ${SHELL:-/bin/bash} -l")
    check = "p=$(tmux display -p -t =cc-p:claude '#{pane_pid}' 2>/dev/null)"
    dead = "! timeout 10 ls /proc/$p/cwd/ >/dev/null 2>&1"  # a dead FUSE mount: ENOTCONN
    respawn = f"tmux respawn-pane -k -t =cc-p:claude -c /w/p {window}"
    attach = "exec tmux new-session -A -s cc-p"
    positions = [command.index(part) for part in (check, dead, respawn, attach)]
    assert positions == sorted(positions)


def test_outside_a_git_checkout_it_says_so(tmp_path: Path) -> None:
    assert git_root(tmp_path) is None
    with pytest.raises(ApiError) as refused:
        require_checkout(tmp_path)
    assert "not inside a git checkout" in str(refused.value)
    assert "cloud-claude connect" in refused.value.fix


def test_inside_a_checkout_its_top_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert git_root(tmp_path / "a" / "b") == tmp_path.resolve()


def test_the_mount_channel_names_the_checkout_for_ssh_setenv() -> None:
    options = MountChannel.ssh_options(Path("/home/ann/my proj"))
    assert options == ["-T", "-o", 'SetEnv=CLOUDCLAUDE_MOUNT_PATH="/home/ann/my proj"', "-s"]
    for bad in ('/home/ann/a"b', "/home/ann/a\\b", "/home/ann/a\nb"):
        with pytest.raises(ApiError) as refused:
            checkable_path(Path(bad))
        assert "cannot be mounted" in str(refused.value)


def test_the_mount_channel_waits_for_the_proxys_ready_line_and_reports_its_error(
    tmp_path: Path,
) -> None:
    """``open`` returns on ``mounted PATH`` and raises the proxy's coded line when ssh ends."""
    said: list[str] = []
    desk = laptop_git.Desk(str(tmp_path), said.append)
    try:
        ready = MountChannel(
            ["sh", "-c", f'echo "mounted {tmp_path}" >&2; cat >/dev/null', "ssh"],
            tmp_path,
            desk,
            said.append,
        )
        ready.open(timeout=30)
        assert ready.alive()
        ready.close()
        assert not ready.alive()
        ready.open(timeout=30)  # again, as after a drop: a new mount
        assert ready.alive()
        ready.close()

        line = "cloudclaude: /tmp is refused (MOUNT_001 mount_path_refused)"
        failing = MountChannel(
            ["sh", "-c", f"echo '{line}' >&2; exit 23", "ssh"], tmp_path, desk, said.append
        )
        with pytest.raises(ApiError) as refused:
            failing.open(timeout=30)
        assert "MOUNT_001" in str(refused.value)
        assert refused.value.status == 23
    finally:
        desk.close()
