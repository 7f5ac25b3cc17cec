"""The trio-asyncio bridge inside the SSH proxy: asyncssh's callbacks call trio code here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog
import trio_asyncio

log = structlog.get_logger(component="sshproxy")

T = TypeVar("T")


async def in_trio(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run a trio coroutine function from asyncio code (the trio-asyncio bridge)."""
    result: T = await trio_asyncio.trio_as_aio(fn)(*args)
    return result


def spawn(coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
    """Fire and forget, but log a failure instead of losing it."""
    task = asyncio.ensure_future(coro)

    def done(t: asyncio.Task[Any]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("sshproxy_background_failed", what=what, error=repr(t.exception()))

    task.add_done_callback(done)
    return task
