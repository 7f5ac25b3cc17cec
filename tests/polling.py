"""Waiting on real services without fixed sleeps: poll for a condition, or wait for quiet.

Neither helper has a deadline of its own: the caller bounds the wait with ``trio.fail_after``
(DESIGN.md 12.3), generously, since a slow machine only makes the wait longer, never the
outcome different. Use ``until`` for "wait until X has happened", and ``quiet`` before asserting
that something did *not* happen (a leak counter stays zero, a process is not restarted): it
waits until reads spread over a window agree, so late packets or a pending watch pass have had
their chance to show up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], *, interval: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy, and return that."""
    while True:
        value = await check()
        if value:
            return value
        await trio.sleep(interval)


async def quiet(
    read: Callable[[], Awaitable[T]], *, window: float = 1.0, interval: float = 0.2
) -> T:
    """Call ``read`` until its value has stayed the same for ``window`` seconds; return it."""
    value = await read()
    since = trio.current_time()
    while True:
        await trio.sleep(interval)
        again = await read()
        if again != value:
            value, since = again, trio.current_time()
        elif trio.current_time() - since >= window:
            return value
