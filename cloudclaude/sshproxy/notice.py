"""A message on the tmux clients in a box (``admin alice attached``), over the box's sshd.

The command runs on the same upstream SSH connection a shell uses (as the box user ``claude``,
who owns the tmux server): every client attached to any of its sessions shows ``text`` in its
status line for ``DISPLAY_MS`` and tmux keeps it in its message log (``tmux show-messages``).
Bounded: ``TIMEOUT_S`` for the whole command, and it prints nothing.
"""

from __future__ import annotations

import shlex

import asyncssh

#: How long tmux shows the message in a client's status line.
DISPLAY_MS = 10_000
#: The most the command may take (a frozen tmux must not hold a terminal's start).
TIMEOUT_S = 10.0


def notice_command(text: str) -> str:
    """A shell command showing ``text`` (quoted; tmux formats are escaped) on every client."""
    message = shlex.quote(text.replace("#", "##"))
    return (
        "for c in $(tmux list-clients -F '#{client_name}' 2>/dev/null); do"
        f' tmux display-message -c "$c" -d {DISPLAY_MS} {message} >/dev/null 2>&1; done; true'
    )


async def tmux_notice(conn: asyncssh.SSHClientConnection, text: str) -> None:
    """Show ``text`` on the box's tmux clients (asyncio side); failures are the caller's."""
    await conn.run(notice_command(text), stdin=asyncssh.DEVNULL, timeout=TIMEOUT_S, check=False)
