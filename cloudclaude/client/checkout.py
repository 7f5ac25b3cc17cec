"""``cloud-claude [claude args…]`` in a git checkout: Claude Code in the box, on this checkout.

The checkout is mounted into the box at the same absolute path (``mount_channel``: the laptop
serves it over SFTP on its own SSH channel), and ``claude`` runs there in a tmux session named
after the checkout. When the connection drops, the session heals (``heal``); the mount is made
again first, and since the old mount died with its stream, Claude Code is started again in
the new one, in the same pane (its conversations stay in the box's home: ``/resume``).
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


#: Before tmux starts: wait for the box to finish booting and give the tmux server Claude Code's
#: endpoint, as ``attach-claude`` (the login command) does; an ``ssh HOST CMD`` is no login shell.
_PRELUDE = (
    "i=0; until [ -e /run/cloudclaude/booted ]; do i=$((i+1)); if [ $i -gt 600 ]; then"
    " echo 'cloud-claude: the box did not finish booting' >&2; exit 1; fi; sleep 0.1; done; "
    "if [ -r /etc/profile.d/cloudclaude-llm.sh ]; then . /etc/profile.d/cloudclaude-llm.sh; fi; "
    'case "${TERM:-dumb}" in dumb|unknown) TERM=xterm-256color; export TERM;; esac; '
)
#: The tmux window Claude Code runs in (and is restarted in, after a dead mount).
WINDOW = "claude"


def _window_command(claude_args: list[str]) -> str:
    """Claude Code, and a login shell in its place when it exits (the pane stays)."""
    return f"{shlex.join(['claude', *claude_args])}; exec ${{SHELL:-/bin/bash}} -l"


def remote_command(root: Path, session: str, claude_args: list[str], takeover: bool) -> str:
    """The box's command: attach to tmux session ``session``, or make it with ``claude``
    running in the checkout; ``takeover`` detaches every other client. An existing session
    whose Claude Code works in a dead mount (the checkout was mounted again since: after a
    drop, or a new ``cloud-claude``) has it started again in the same pane first."""
    where = shlex.quote(str(root))
    target = shlex.quote(f"={session}:{WINDOW}")
    window = shlex.quote(_window_command(claude_args))
    flags = "-A -D" if takeover else "-A"
    revive = (
        f"p=$(tmux display -p -t {target} '#{{pane_pid}}' 2>/dev/null) && [ -n \"$p\" ]"
        f" && ! timeout 10 ls /proc/$p/cwd/ >/dev/null 2>&1"
        f" && tmux respawn-pane -k -t {target} -c {where} {window}; "
    )
    return (
        f"{_PRELUDE}{revive}cd {where} && exec tmux new-session {flags} -s {shlex.quote(session)}"
        f" -n {WINDOW} -c {where} {window}"
    )
