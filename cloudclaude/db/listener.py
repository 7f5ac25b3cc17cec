"""LISTEN on a dedicated connection that comes back after Postgres does.

asyncpg does not reconnect a listening connection, so this loop does: connect, LISTEN, check the
connection every ``check_s``, and on any failure wait (backoff up to ``max_backoff_s``) and
start over. After every (re)connect ``on_notify("")`` is called once, since notifications sent
while disconnected are lost: the caller rescans instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
import trio
import trio_asyncio

from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import TRANSLATED, translate

log = structlog.get_logger(component="db.listener")


async def _connect(url: str, timeout_s: float) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await trio_asyncio.aio_as_trio(asyncpg.connect)(
            url, timeout=timeout_s
        )
    except TRANSLATED as exc:
        raise translate(exc) from exc
    return conn


class Listener:
    def __init__(
        self,
        url: str,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        check_s: float = 2.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.url = url
        self.channel = channel
        self._on_notify = on_notify
        self._check_s = check_s
        self._max_backoff_s = max_backoff_s
        self.connected = False
        self.reconnects = 0

    def _callback(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        pending: list[trio.TaskStatus[None]] = [task_status]

        def started() -> None:
            """Tell the parent we serve: once listening, or after a first failed connect
            (callers fall back to polling while the database is away)."""
            if pending:
                pending.pop().started()

        backoff = 0.1
        while True:
            try:
                conn = await _connect(self.url, timeout_s=5.0)
            except DatabaseError as exc:
                log.warning("listener_connect_failed", error=str(exc), retry_in_s=backoff)
            else:
                backoff = 0.1
                try:
                    await self._listen(conn, started)
                except DatabaseError as exc:
                    log.warning("listener_lost", error=str(exc))
                finally:
                    self.connected = False
                    with trio.CancelScope(shield=True), trio.move_on_after(2):
                        await trio_asyncio.aio_as_trio(conn.close)()
                self.reconnects += 1
            started()
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def _listen(self, conn: asyncpg.Connection, started: Callable[[], None]) -> None:
        try:
            await trio_asyncio.aio_as_trio(conn.add_listener)(self.channel, self._callback)
        except TRANSLATED as exc:
            raise translate(exc) from exc
        self.connected = True
        started()
        self._on_notify("")  # anything sent while we were away: rescan
        while True:
            await trio.sleep(self._check_s)
            try:
                with trio.fail_after(self._check_s * 2):
                    await trio_asyncio.aio_as_trio(conn.fetchval)("SELECT 1")
            except trio.TooSlowError as exc:
                raise DatabaseError("the listening connection stopped answering") from exc
            except TRANSLATED as exc:
                raise translate(exc) from exc
