"""The trio face of an asyncpg pool.

Every call crosses into asyncio with ``trio_asyncio.aio_as_trio`` (the loop is opened by the
supervisor); asyncpg exceptions become ``cloudclaude.db.errors`` here. Repositories use
``Database`` for single statements and ``Database.transaction()`` for several in one
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import trio
import trio_asyncio

from cloudclaude.db.errors import (
    CheckViolation,
    DatabaseError,
    DatabaseUnavailable,
    UniqueViolation,
)

Record = asyncpg.Record
T = TypeVar("T")

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncio.TimeoutError,
    ConnectionError,
)


TRANSLATED: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *_UNAVAILABLE)


def translate(exc: BaseException) -> DatabaseError:
    """The ``cloudclaude.db.errors`` equivalent of an asyncpg or socket error."""
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return UniqueViolation(exc.constraint_name, str(exc))
    if isinstance(
        exc, asyncpg.exceptions.CheckViolationError | asyncpg.exceptions.ForeignKeyViolationError
    ):
        return CheckViolation(exc.constraint_name, str(exc))
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(f"database unavailable: {exc!r}")
    return DatabaseError(str(exc))


async def _call(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    try:
        result: T = await trio_asyncio.aio_as_trio(fn)(*args)
    except TRANSLATED as exc:
        raise translate(exc) from exc
    return result


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _Queries:
    """Single statements on ``_target`` (a pool or one connection)."""

    _target: Any

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        return await _call(self._target.fetch, sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        return await _call(self._target.fetchrow, sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await _call(self._target.fetchval, sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return await _call(self._target.execute, sql, *args)


@asynccontextmanager
async def _transaction(target: Any) -> AsyncIterator[None]:
    """Commit on success, roll back on any error (a savepoint when one is already open)."""
    tx = target.transaction()
    await _call(tx.start)
    try:
        yield
    except BaseException:
        # If the connection is gone, the server rolls back on its own.
        with trio.CancelScope(shield=True), contextlib.suppress(DatabaseError):
            await _call(tx.rollback)
        raise
    else:
        await _call(tx.commit)


class Connection(_Queries):
    """One connection taken from the pool (inside ``Database.transaction``)."""

    def __init__(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        self._target = conn

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Inside a transaction: an error rolls back only what ran in this block."""
        async with _transaction(self._target):
            yield


class Database(_Queries):
    """A pool of connections; open it with ``Database.open`` inside a trio-asyncio loop."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = self._target = pool
        self.url = url

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, connect_timeout_s: float = 10.0
    ) -> AsyncIterator[Database]:
        async def create() -> asyncpg.Pool:
            return await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout_s,
                init=_init_connection,
            )

        pool = await _call(create)
        try:
            yield cls(pool, url)
        finally:
            with trio.move_on_after(5) as scope:
                scope.shield = True
                # A broken pool is terminated below anyway.
                with contextlib.suppress(Exception):
                    await trio_asyncio.aio_as_trio(pool.close)()
            if scope.cancelled_caught:
                pool.terminate()

    async def ping(self) -> None:
        """One round trip to the server (health checks)."""
        await self.fetchval("SELECT 1")

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection held for several statements, without a transaction."""
        raw = await _call(self._pool.acquire)
        try:
            yield Connection(raw)
        finally:
            with trio.CancelScope(shield=True):
                await trio_asyncio.aio_as_trio(self._pool.release)(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Statements on the yielded connection commit together, or roll back on any error."""
        async with self.connection() as conn, _transaction(conn._target):
            yield conn
