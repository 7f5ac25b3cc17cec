"""SQL for ``backups``: each backup's run (the data is in the restic repository)."""

from __future__ import annotations

import uuid
from typing import Any

from cloudclaude.db.repos import Executor
from cloudclaude.model.backups import Backup

_COLUMNS = (
    "id, trigger, actor, status, started_at, finished_at, size_bytes, homes, skipped,"
    " error_code, error_message"
)


def _backup(row: Any) -> Backup:
    return Backup(**dict(row))


async def start(db: Executor, backup_id: uuid.UUID, trigger: str, actor: str) -> None:
    await db.execute(
        "INSERT INTO backups (id, trigger, actor) VALUES ($1, $2, $3)", backup_id, trigger, actor
    )


async def finish(
    db: Executor,
    backup_id: uuid.UUID,
    *,
    size_bytes: int,
    homes: int,
    skipped: int,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    await db.execute(
        "UPDATE backups SET status = $2, finished_at = now(), size_bytes = $3, homes = $4,"
        " skipped = $5, error_code = $6, error_message = $7 WHERE id = $1",
        backup_id,
        "failed" if error_code else "succeeded",
        size_bytes,
        homes,
        skipped,
        error_code,
        error_message,
    )


async def recent(db: Executor, limit: int = 20) -> list[Backup]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM backups ORDER BY started_at DESC LIMIT $1",
        limit,
    )
    return [_backup(row) for row in rows]


async def abandon_running(db: Executor) -> int:
    """Runs a stopped daemon left ``running``: failed, so none looks alive forever."""
    done = await db.execute(
        "UPDATE backups SET status = 'failed', finished_at = now(), error_code = 'DISK_006',"
        " error_message = 'the daemon stopped during this backup' WHERE status = 'running'"
    )
    return int(str(done).split()[-1])
