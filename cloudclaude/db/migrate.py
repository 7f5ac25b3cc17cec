"""Migration runner: plain SQL files applied in order, one transaction each.

Applied versions are recorded in ``schema_migrations``. A session advisory lock serialises
daemons that start together, so each migration runs exactly once.
"""

from __future__ import annotations

import re
from importlib import resources

import attrs

from cloudclaude.db.pool import Database

#: Arbitrary constant shared by every cloudclaude process: "cc-migr".
ADVISORY_LOCK_KEY = 0x63632D6D696772
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped in ``cloudclaude/db/migrations``, by version."""
    found: list[Migration] = []
    for entry in resources.files("cloudclaude.db").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


async def apply_all(db: Database) -> list[Migration]:
    """Apply what is missing; returns the migrations this call applied."""
    applied_now: list[Migration] = []
    async with db.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in available():
                if migration.version in done:
                    continue
                await conn.execute("BEGIN")
                try:
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")
                applied_now.append(migration)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return applied_now
