"""``cloud-claude [claude args…]`` in a git checkout: Claude Code in the box, on this checkout.

The checkout is mounted into the box at the same absolute path (``mount_channel``: the laptop
serves it over SFTP on its own SSH channel), and ``claude`` runs there in a tmux session named
after the checkout. When the connection drops, the session heals (``heal``); the mount is made
again first, and since the old mount died with its stream, Claude Code is started again in
the new one (its conversation is in the box's home, ``claude --continue`` picks it up).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from pathlib import Path

from cloudclaude.client.api import ApiError

#: tmux session names: letters, digits, ``-`` and ``_`` (``.`` and ``:`` mean window/pane).
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def git_root(cwd: Path) -> Path | None:
    """The top of the git checkout ``cwd`` is in, or None outside one (or without git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    top = done.stdout.strip()
    return Path(top) if done.returncode == 0 and top else None


def require_checkout(cwd: Path) -> Path:
    root = git_root(cwd)
    if root is None:
        raise ApiError(
            f"{cwd} is not inside a git checkout",
            fix="cd into one, or attach to the plain session: cloud-claude connect",
        )
    return root


def session_name(root: Path) -> str:
    """``cc-<name>-<hash>``: readable, and two checkouts with one name do not share it."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:6]
    return f"cc-{_UNSAFE.sub('-', root.name)[:40].strip('-') or 'checkout'}-{digest}"


def remote_command(root: Path, name: str, claude_args: list[str], mode: str) -> str:
    """The box's command: attach to the checkout's tmux session, or make it with ``claude``
    running in the checkout (a shell stays when Claude Code exits). ``mode``: "" (attach),
    "new" (a session of its own) or "takeover" (detach other clients)."""
    claude = shlex.join(["claude", *claude_args])
    window = f"{claude}; exec ${{SHELL:-/bin/bash}} -l"
    session = name if mode != "new" else f"{name}-$$"
    flags = "-A -D" if mode == "takeover" else ("" if mode == "new" else "-A")
    return (
        f"cd {shlex.quote(str(root))} && "
        f"exec tmux new-session {flags} -s {session} -c {shlex.quote(str(root))} "
        f"{shlex.quote(window)}"
    ).replace("  ", " ")


def restart_command(name: str) -> str:
    """Ends the checkout's session (Claude Code in a dead mount) before it is made again."""
    return f"tmux kill-session -t ={name} 2>/dev/null; true"
