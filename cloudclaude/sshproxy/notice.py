"""A message on the tmux clients in a box (``admin alice attached``), over the box's sshd.

The command runs on the same upstream SSH connection a shell uses (as the box user ``claude``,
who owns the tmux server): every client attached to any of its sessions shows ``text`` in its
status line for ``DISPLAY_MS`` and tmux keeps it in its message log (``tmux show-messages``).
Bounded: ``TIMEOUT_S`` for the whole command, and it prints nothing.

``box_notifier`` makes the same notice a one-shot from trio (its own SSH login, then logged
out): ``cloudclaudectl hosts roll --now`` warns a running box's users before it is rebuilt.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Awaitable, Callable

import asyncssh
import trio
import trio_asyncio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.domain.hosts import Hosts
from cloudclaude.model.hosts import Host
from cloudclaude.sshproxy.upstream import connect_box

#: How long tmux shows the message in a client's status line.
DISPLAY_MS = 10_000
#: The most the command may take (a frozen tmux must not hold a terminal's start).
TIMEOUT_S = 10.0
#: The most a one-shot notice may take, the SSH login included.
ONE_SHOT_S = TIMEOUT_S + 10.0


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


async def notify_box(agent: Agent, hosts: Hosts, host_id: uuid.UUID, text: str) -> None:
    """Log in to the running box, show ``text`` on its tmux clients, log out (trio side).

    Bounded by ``ONE_SHOT_S``; a failure (box not answering, no key) is the caller's.
    """
    with trio.fail_after(ONE_SHOT_S):
        conn = await trio_asyncio.aio_as_trio(connect_box)(agent, hosts, host_id)
        try:
            await trio_asyncio.aio_as_trio(tmux_notice)(conn, text)
        finally:
            conn.close()


def box_notifier(agent: Agent, hosts: Hosts) -> Callable[[Host, str], Awaitable[None]]:
    """A ``domain.rolls.Notifier``: the notice on the host's box."""

    async def notify(host: Host, text: str) -> None:
        await notify_box(agent, hosts, host.id, text)

    return notify
