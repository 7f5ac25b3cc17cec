"""SQL for the append-only ``audit_events`` table."""

from __future__ import annotations

from typing import Any

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.audit import AuditEvent, AuditFilter, NewAuditEvent

_COLUMNS = "id, type, actor, actor_user_id, user_id, host_id, source_ip, metadata, at"


def _event(row: Record) -> AuditEvent:
    data = dict(row)
    data["source_ip"] = str(data["source_ip"]) if data["source_ip"] is not None else None
    return AuditEvent(**data)


async def insert(db: Executor, event: NewAuditEvent) -> AuditEvent:
    """Append one event; pass the transaction's connection so it commits with the change."""
    row = await db.fetchrow(
        f"INSERT INTO audit_events (type, actor, actor_user_id, user_id, host_id, source_ip,"
        f" metadata) VALUES ($1, $2, $3, $4, $5, $6::inet, $7) RETURNING {_COLUMNS}",
        event.type,
        event.actor.name,
        event.actor.user_id,
        event.user_id,
        event.host_id,
        event.actor.source_ip,
        event.metadata,
    )
    assert row is not None
    return _event(row)


def _where(f: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("type", "=", f.type),
        ("user_id", "=", f.user_id),
        ("host_id", "=", f.host_id),
        ("at", ">=", f.since),
        ("at", "<", f.until),
        ("id", ">", f.after_id),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), args


async def list_recent(
    db: Executor, f: AuditFilter, *, limit: int, offset: int = 0
) -> list[AuditEvent]:
    """Newest first."""
    where, args = _where(f)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM audit_events{where} ORDER BY id DESC"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [_event(r) for r in rows]


async def count(db: Executor, f: AuditFilter) -> int:
    where, args = _where(f)
    return int(await db.fetchval(f"SELECT count(*) FROM audit_events{where}", *args))


async def list_after(db: Executor, after_id: int, *, limit: int) -> list[AuditEvent]:
    """Oldest first, for following the log."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit
    )
    return [_event(r) for r in rows]
