"""SQL for ``tasks`` and ``task_events``: enqueue, claim with a lease, renew, finish, cancel.

Claiming takes the oldest runnable row with ``FOR UPDATE SKIP LOCKED``, so any number of
workers (in any number of daemons) never take the same task; a running task whose lease ran
out is runnable again. Enqueueing notifies ``CHANNEL`` in the same transaction, so workers wake
on commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.tasks import Task, TaskEvent

CHANNEL = "cloudclaude_tasks"
_COLUMNS = (
    "id, host_id, kind, status, params, attempt, max_attempts, run_after, lease_owner,"
    " lease_expires_at, requested_by, cancel_requested, error_code, error_message,"
    " progress_percent, progress_message, created_at, started_at, finished_at, updated_at"
)
_T_COLUMNS = ", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))


def _task(row: Record, events: list[TaskEvent] | None = None) -> Task:
    data = {k: v for k, v in dict(row).items() if k != "was"}
    return Task(**data, events=events or [])


@attrs.frozen(kw_only=True)
class Claimed:
    task: Task
    #: The lease of an earlier worker ran out (it died or hung): a stale task reclaimed.
    reclaimed: bool


@attrs.frozen(kw_only=True)
class TaskPage:
    items: list[Task]
    total: int


async def insert(
    db: Executor,
    *,
    host_id: uuid.UUID | None,
    kind: str,
    params: dict[str, Any],
    requested_by: uuid.UUID | None,
    max_attempts: int,
) -> Task:
    """Enqueue; a second active task for the host raises ``UniqueViolation``."""
    row = await db.fetchrow(
        "INSERT INTO tasks (host_id, kind, params, requested_by, max_attempts)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
        host_id,
        kind,
        params,
        requested_by,
        max_attempts,
    )
    assert row is not None
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(row["id"]))
    return _task(row)


async def claim(db: Executor, owner: str, lease_s: float) -> Claimed | None:
    row = await db.fetchrow(
        "WITH next AS ("
        "  SELECT id, status AS was FROM tasks"
        "  WHERE (status = 'pending' AND run_after <= now())"
        "     OR (status = 'running' AND lease_expires_at < now())"
        "  ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE tasks t SET status = 'running', lease_owner = $1,"
        "  lease_expires_at = now() + make_interval(secs => $2), attempt = t.attempt + 1,"
        "  started_at = coalesce(t.started_at, now()), updated_at = now()"
        f" FROM next WHERE t.id = next.id RETURNING {_T_COLUMNS}, next.was",
        owner,
        lease_s,
    )
    if row is None:
        return None
    return Claimed(task=_task(row), reclaimed=row["was"] == "running")


async def renew(db: Executor, task_id: uuid.UUID, owner: str, lease_s: float) -> bool | None:
    """Extend the lease; the cancel flag, or None when the lease is no longer ours."""
    row = await db.fetchrow(
        "UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING cancel_requested",
        task_id,
        owner,
        lease_s,
    )
    return None if row is None else bool(row["cancel_requested"])


async def add_event(db: Executor, task_id: uuid.UUID, code: str, message: str) -> None:
    await db.execute(
        "INSERT INTO task_events (task_id, seq, code, message)"
        " SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM task_events WHERE task_id = $1",
        task_id,
        code,
        message,
    )


async def set_progress(db: Executor, task_id: uuid.UUID, percent: int, message: str) -> None:
    await db.execute(
        "UPDATE tasks SET progress_percent = greatest(progress_percent, $2),"
        " progress_message = $3, updated_at = now() WHERE id = $1",
        task_id,
        max(0, min(100, percent)),
        message[:500],
    )


async def finish(
    db: Executor,
    task_id: uuid.UUID,
    owner: str,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
) -> Task | None:
    """End a task this worker holds (None when its lease was lost to another worker)."""
    progress = ", progress_percent = 100" if status == "succeeded" else ""
    row = await db.fetchrow(
        f"UPDATE tasks SET status = $3, error_code = $4, error_message = $5{progress},"
        " lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()"
        f" WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING {_COLUMNS}",
        task_id,
        owner,
        status,
        error_code,
        error_message,
    )
    return _task(row) if row else None


async def retry_later(
    db: Executor, task_id: uuid.UUID, owner: str, delay_s: float, error_code: str, message: str
) -> Task | None:
    row = await db.fetchrow(
        "UPDATE tasks SET status = 'pending', run_after = now() + make_interval(secs => $3),"
        " error_code = $4, error_message = $5, lease_owner = NULL, lease_expires_at = NULL,"
        " updated_at = now()"
        f" WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING {_COLUMNS}",
        task_id,
        owner,
        delay_s,
        error_code,
        message,
    )
    return _task(row) if row else None


async def request_cancel(db: Executor, task_id: uuid.UUID) -> Task | None:
    """A pending task is canceled at once; a running one is asked to stop at its next step."""
    row = await db.fetchrow(
        "UPDATE tasks SET"
        " status = CASE WHEN status = 'pending' THEN 'canceled' ELSE status END,"
        " finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END,"
        " cancel_requested = (status = 'running'), updated_at = now()"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        task_id,
    )
    return _task(row) if row else None


async def get(db: Executor, task_id: uuid.UUID, *, with_events: bool = True) -> Task | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM tasks WHERE id = $1", task_id)
    if row is None:
        return None
    events: list[TaskEvent] = []
    if with_events:
        rows = await db.fetch(
            "SELECT seq, code, message, at FROM task_events WHERE task_id = $1 ORDER BY seq",
            task_id,
        )
        events = [TaskEvent(**dict(r)) for r in rows]
    return _task(row, events)


async def active_for_host(db: Executor, host_id: uuid.UUID) -> Task | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM tasks WHERE host_id = $1 AND status IN ('pending', 'running')",
        host_id,
    )
    return _task(row) if row else None


async def list_tasks(
    db: Executor,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    host_id: uuid.UUID | None = None,
    host_ids_of_user: uuid.UUID | None = None,
) -> TaskPage:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("status = ${}", status),
        ("host_id = ${}", host_id),
        ("host_id IN (SELECT id FROM hosts WHERE user_id = ${})", host_ids_of_user),
    ):
        if value is not None:
            args.append(value)
            clauses.append(clause.format(len(args)))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    total = await db.fetchval(f"SELECT count(*) FROM tasks{where}", *args)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM tasks{where} ORDER BY created_at DESC, id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return TaskPage(items=[_task(r) for r in rows], total=int(total))


async def status_counts(db: Executor) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM tasks GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


async def changed_since(
    db: Executor, since: dt.datetime, *, user_id: uuid.UUID | None = None, limit: int = 500
) -> list[Task]:
    """Tasks updated after ``since``, oldest change first; ``user_id``: that user's hosts only."""
    owner = " AND host_id IN (SELECT id FROM hosts WHERE user_id = $3)" if user_id else ""
    args: list[Any] = [since, limit] + ([user_id] if user_id is not None else [])
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM tasks WHERE updated_at > $1{owner} ORDER BY updated_at LIMIT $2",
        *args,
    )
    return [_task(r) for r in rows]
