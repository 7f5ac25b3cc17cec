"""SQL for ``signing_keys``: the JWT key ring's ids and lifetimes (no key material)."""

from __future__ import annotations

import datetime as dt

import attrs

from cloudclaude.db.repos import Executor


@attrs.frozen(kw_only=True)
class SigningKeyRow:
    kid: str
    created_at: dt.datetime
    retired_at: dt.datetime | None


async def list_usable(db: Executor, retired_after: dt.datetime) -> list[SigningKeyRow]:
    """The current key and keys retired after ``retired_after`` (their tokens may still live)."""
    rows = await db.fetch(
        "SELECT kid, created_at, retired_at FROM signing_keys"
        " WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at",
        retired_after,
    )
    return [SigningKeyRow(**dict(r)) for r in rows]


async def rotate(db: Executor, new_kid: str) -> SigningKeyRow:
    """Retire the current key and make ``new_kid`` current (call inside a transaction)."""
    await db.execute("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
    await db.execute("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
    row = await db.fetchrow(
        "INSERT INTO signing_keys (kid) VALUES ($1) RETURNING kid, created_at, retired_at", new_kid
    )
    assert row is not None
    return SigningKeyRow(**dict(row))


async def ensure_current(db: Executor, new_kid: str) -> None:
    """Create a first key when none is current (call inside a transaction)."""
    await db.execute("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
    current = await db.fetchval("SELECT kid FROM signing_keys WHERE retired_at IS NULL LIMIT 1")
    if current is None:
        await db.execute("INSERT INTO signing_keys (kid) VALUES ($1)", new_kid)
