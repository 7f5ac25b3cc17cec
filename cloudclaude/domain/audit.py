"""The audit log: one way to append an event, and the queries the pages, API and ctl read.

``record`` takes the connection of the change it describes, so the change and its audit row
commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from cloudclaude.db.pool import Database
from cloudclaude.db.repos import Executor
from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.model.audit import Actor, AuditEvent, AuditFilter, NewAuditEvent
from cloudclaude.model.hosts import Host


async def record(
    db: Executor,
    type: str,
    actor: Actor,
    *,
    user_id: uuid.UUID | None = None,
    host_id: uuid.UUID | None = None,
    meta: Mapping[str, Any] | None = None,
    **metadata: Any,
) -> AuditEvent:
    """Append one event of ``type`` with ``meta`` and ``metadata`` merged."""
    merged = {**(meta or {}), **metadata}
    event = NewAuditEvent(type=type, actor=actor, user_id=user_id, host_id=host_id, metadata=merged)
    return await audit_repo.insert(db, event)


async def record_for_host(
    db: Executor, type: str, actor: Actor, host: Host, **metadata: Any
) -> AuditEvent:
    """Append one event about ``host`` (and so about its owner)."""
    return await record(db, type, actor, user_id=host.user_id, host_id=host.id, **metadata)


@attrs.frozen(kw_only=True)
class AuditPage:
    items: list[AuditEvent]
    total: int


class AuditLog:
    """Reading the log: filtered pages, the newest events, and following it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, type: str, actor: Actor, **metadata: Any) -> AuditEvent:
        """An event that stands alone (no change to commit with it)."""
        return await record(self._db, type, actor, **metadata)

    async def page(self, where: AuditFilter, *, limit: int, offset: int = 0) -> AuditPage:
        """Newest first, with the number of all matching events."""
        items = await audit_repo.list_recent(self._db, where, limit=limit, offset=offset)
        return AuditPage(items=items, total=await audit_repo.count(self._db, where))

    async def recent(self, limit: int) -> list[AuditEvent]:
        return await audit_repo.list_recent(self._db, AuditFilter(), limit=limit)

    async def after(self, last_id: int, *, limit: int = 500) -> list[AuditEvent]:
        """Events newer than ``last_id``, oldest first (following the log)."""
        return await audit_repo.list_after(self._db, last_id, limit=limit)

    async def count(self, where: AuditFilter) -> int:
        return await audit_repo.count(self._db, where)

    async def last_id(self) -> int:
        """The newest event's id (0 for an empty log): where following starts."""
        newest = await audit_repo.list_recent(self._db, AuditFilter(), limit=1)
        return newest[0].id if newest else 0
