"""How ``cloud-claude`` in a checkout names its tmux session and builds the box's command."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cloudclaude.client.api import ApiError
from cloudclaude.client.checkout import (
    git_root,
    remote_command,
    require_checkout,
    session_name,
)


def test_the_session_is_named_after_the_checkout_and_its_path() -> None:
    a = session_name(Path("/home/ann/src/my.app"))
    b = session_name(Path("/home/ann/other/my.app"))
    assert a.startswith("cc-my-app-") and b.startswith("cc-my-app-")
    assert a != b  # same name, other path: other session
    assert session_name(Path("/home/ann/src/my.app")) == a  # stable
    assert all(c.isalnum() or c in "-_" for c in session_name(Path("/x/a b:c.d;$(rm)")))


@pytest.mark.parametrize(
    ("mode", "flags"), [("", "-A -s cc-p"), ("takeover", "-A -D -s cc-p"), ("new", "-s cc-p-$$")]
)
def test_the_box_command_attaches_or_makes_the_session_in_the_checkout(
    mode: str, flags: str
) -> None:
    root = Path("/home/ann/my proj")
    command = remote_command(root, "cc-p", ["-p", "it's; rm -rf /"], mode)
    assert command.startswith(f"cd {shlex.quote(str(root))} && exec tmux new-session {flags} ")
    words = shlex.split(command.split(" && ", 1)[1])
    assert words[-1] == "claude -p 'it'\"'\"'s; rm -rf /'; exec ${SHELL:-/bin/bash} -l"
    assert words[words.index("-c") + 1] == str(root)


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
