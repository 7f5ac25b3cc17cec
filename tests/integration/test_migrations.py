"""Migrations against a real Postgres: apply once, re-apply as a no-op, two runners at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio
import trio_asyncio

from cloudclaude.db import migrate
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Database
from tests.integration import pg

TABLES = {
    "users",
    "ssh_keys",
    "signing_keys",
    "hosts",
    "egress_ips",
    "host_egress_bindings",
    "tasks",
    "task_events",
    "audit_events",
    "schema_migrations",
}


@pytest.fixture
def empty_url(pg_cluster: PrivateCluster) -> Iterator[str]:
    yield from pg.fresh_database(pg_cluster, migrated=False)


async def test_apply_creates_the_whole_schema_then_reapplies_as_noop(empty_url: str) -> None:
    async with trio_asyncio.open_loop(), Database.open(empty_url) as db:
        first = await migrate.apply_all(db)
        assert [m.version for m in first] == [m.version for m in migrate.available()]
        tables = {
            r["tablename"]
            for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert tables >= TABLES
        assert await migrate.apply_all(db) == []
        count = await db.fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(migrate.available())


async def test_two_runners_starting_together_migrate_once(empty_url: str) -> None:
    results: list[int] = []

    async def runner() -> None:
        async with Database.open(empty_url, max_size=1) as db:
            results.append(len(await migrate.apply_all(db)))

    async with trio_asyncio.open_loop():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner)
            nursery.start_soon(runner)
        async with Database.open(empty_url) as db:
            rows = await db.fetchval("SELECT count(*) FROM schema_migrations")
    assert sorted(results) == [0, len(migrate.available())]
    assert rows == len(migrate.available())


async def test_one_active_task_per_host_is_enforced(db: Database) -> None:
    user_id = await db.fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ('t1', 'x', 'user') RETURNING id"
    )
    host_id = await db.fetchval(
        "INSERT INTO hosts (short_id, user_id) VALUES ('abc123', $1) RETURNING id", user_id
    )
    await db.execute("INSERT INTO tasks (host_id, kind) VALUES ($1, 'start')", host_id)
    with pytest.raises(UniqueViolation):
        await db.execute("INSERT INTO tasks (host_id, kind) VALUES ($1, 'stop')", host_id)
