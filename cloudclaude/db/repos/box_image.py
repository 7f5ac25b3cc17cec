"""SQL for ``box_image`` (the current box image) and hosts' ``roll_pending`` flag."""

from __future__ import annotations

import uuid

from cloudclaude.db.repos import Executor


async def current(db: Executor) -> str | None:
    """The current box image's reference (None before the agent reported one)."""
    ref = await db.fetchval("SELECT ref FROM box_image")
    return str(ref) if ref is not None else None


async def record(db: Executor, ref: str) -> bool:
    """Make ``ref`` the current image; True when it changed."""
    changed = await db.fetchval(
        "INSERT INTO box_image (singleton, ref) VALUES (true, $1)"
        " ON CONFLICT (singleton) DO UPDATE SET ref = EXCLUDED.ref, recorded_at = now()"
        "  WHERE box_image.ref IS DISTINCT FROM EXCLUDED.ref"
        " RETURNING true",
        ref,
    )
    return bool(changed)


async def set_roll_pending(db: Executor, host_id: uuid.UUID, pending: bool) -> bool:
    """Mark (or clear) a host to be rebuilt at its next stop; False when it is gone."""
    done = await db.fetchval(
        "UPDATE hosts SET roll_pending = $2, updated_at = now()"
        " WHERE id = $1 AND status <> 'deleted' RETURNING true",
        host_id,
        pending,
    )
    return bool(done)
