"""An agent call ends when the agent process does, even if its socket stays open.

A connection's end of file is not proof enough: a process the agent forked may still hold the
accepted socket after the agent died (``agent.forkguard`` kills such children; this covers any
other holder), and a request would then wait for a reply nobody is going to send. So each
socket-mode call also watches the agent process itself, by the pid the kernel reports for the
socket's peer (``SO_PEERCRED``), through a pidfd that turns readable when it exits.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from agent.protocol.peercred import peer_credentials

#: ``_pidfd_of_peer``'s answer when the peer has already exited.
GONE = -1


def _pidfd_of_peer(sock: trio.socket.SocketType) -> int | None:
    """A pidfd of the peer process, ``GONE``, or None where the kernel cannot say (pid 0: the
    peer is in another pid namespace; or no pidfd support): then the end of file is all."""
    pid = peer_credentials(sock).pid  # type: ignore[arg-type]
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return GONE
    except OSError:
        return None


async def until_peer_exits(sock: trio.socket.SocketType) -> None:
    """Return when the process at the other end of ``sock`` exits (never, if unknowable)."""
    pidfd = _pidfd_of_peer(sock)
    if pidfd is None:
        await trio.sleep_forever()
    if pidfd is None or pidfd == GONE:
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)  # ours alone: no other task waits on it


@asynccontextmanager
async def while_peer_lives(
    sock: trio.socket.SocketType, gone: Callable[[], Exception]
) -> AsyncIterator[None]:
    """Run the block; if the peer process exits first, cancel it and raise ``gone()``. The
    block's own exception comes out as itself, not in a group."""
    exited = completed = False
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            nonlocal exited
            await until_peer_exits(sock)
            exited = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        try:
            yield
            completed = True  # an answer that came just before the exit still counts
        except Exception as exc:  # noqa: BLE001 (re-raised below, not wrapped in a group)
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if exited and not completed:
        raise gone()
