"""Host tasks as the pages, API, ctl and SSH proxy see them: queue, look up, list, cancel.

One active task per host is enforced by a partial unique index; ``enqueue`` turns a second
concurrent action into ``host_busy`` (409) naming the task in the way, and writes its audit
event on the same connection.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cloudclaude.core.ids import parse_uuid
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.domain import audit
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import TASK_STATUSES, Task


async def enqueue(
    conn: Connection,
    actor: Actor,
    host: Host,
    kind: str,
    params: dict[str, Any],
    *,
    max_attempts: int,
    audit_type: str = "admin.host.action",
) -> Task:
    """Queue ``kind`` for ``host`` inside the caller's transaction, audited as ``audit_type``."""
    try:
        async with conn.savepoint():
            task = await tasks_repo.insert(
                conn,
                host_id=host.id,
                kind=kind,
                params=params,
                requested_by=actor.user_id,
                max_attempts=max_attempts,
            )
    except UniqueViolation as exc:
        active = await tasks_repo.active_for_host(conn, host.id)
        busy = f"a {active.kind} task ({active.id}) is {active.status}" if active else "busy"
        raise CloudClaudeError(
            "host_busy",
            f"host {host.short_id}: {busy}",
            task_id=str(active.id) if active else None,
        ) from exc
    await audit.record_for_host(
        conn, audit_type, actor, host, action=kind, task_id=str(task.id), **params
    )
    return task


class HostTasks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, ref: str) -> Task:
        """A task with its events, by id (text from a URL or the command line)."""
        task_id = parse_uuid(ref, "task", slug="not_found")
        task = await tasks_repo.get(self._db, task_id)
        if task is None:
            raise CloudClaudeError("not_found", f"no task {ref[:64]!r}")
        return task

    async def active_for(self, host_id: uuid.UUID) -> Task | None:
        return await tasks_repo.active_for_host(self._db, host_id)

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        status: str | None = None,
        host_id: uuid.UUID | None = None,
    ) -> tasks_repo.TaskPage:
        """Newest first, without their events."""
        if status is not None and status not in TASK_STATUSES:
            raise CloudClaudeError("bad_query", f"status must be one of {', '.join(TASK_STATUSES)}")
        return await tasks_repo.list_tasks(
            self._db, limit=limit, offset=offset, status=status, host_id=host_id
        )

    async def status_counts(self) -> dict[str, int]:
        return await tasks_repo.status_counts(self._db)

    async def changed_since(self, since: dt.datetime, owner: uuid.UUID | None) -> list[Task]:
        """Tasks changed after ``since`` (``owner``: on that user's hosts only)."""
        return await tasks_repo.changed_since(self._db, since, user_id=owner)

    async def cancel(self, actor: Actor, ref: str) -> Task:
        """Cancel a pending task at once, a running one at its next step (audited)."""
        task = await self.get(ref)
        if not task.active:
            raise CloudClaudeError("conflict", f"task {task.id} already ended ({task.status})")
        async with self._db.transaction() as conn:
            canceled = await tasks_repo.request_cancel(conn, task.id)
            assert canceled is not None
            await audit.record(
                conn,
                "admin.host.action",
                actor,
                host_id=task.host_id,
                action="cancel",
                task_id=str(task.id),
                kind=task.kind,
            )
        return canceled
