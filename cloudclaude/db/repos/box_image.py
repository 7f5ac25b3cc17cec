"""SQL for ``box_image`` (the current box image), ``image_build`` (its last build's progress)
and hosts' ``roll_pending`` flag."""

from __future__ import annotations

import uuid

from cloudclaude.db.repos import Executor
from cloudclaude.model.images import ImageBuild


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


async def build_started(db: Executor) -> None:
    await db.execute(
        "INSERT INTO image_build (singleton, status) VALUES (true, 'running')"
        " ON CONFLICT (singleton) DO UPDATE SET status = 'running', percent = 0, stage = '',"
        "  message = '', image = NULL, error_code = NULL, started_at = now(), updated_at = now()"
    )


async def build_progress(db: Executor, percent: int, stage: str, message: str) -> None:
    await db.execute(
        "UPDATE image_build SET percent = $1, stage = $2, message = $3, updated_at = now()",
        percent,
        stage[:200],
        message[:500],
    )


async def build_ended(
    db: Executor, *, image: str | None, error_code: str | None, message: str = ""
) -> None:
    await db.execute(
        "UPDATE image_build SET status = $1, image = $2, error_code = $3, message = $4,"
        " percent = CASE WHEN $3::text IS NULL THEN 100 ELSE percent END, updated_at = now()",
        "failed" if error_code else "succeeded",
        image,
        error_code,
        message[:500],
    )


async def last_build(db: Executor) -> ImageBuild | None:
    row = await db.fetchrow(
        "SELECT status, percent, stage, message, image, error_code, started_at, updated_at"
        " FROM image_build"
    )
    return ImageBuild(**dict(row)) if row is not None else None
