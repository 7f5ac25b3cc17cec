"""SQL for ``ssh_tickets``: one-time SSH login tickets, stored as hashes."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudclaude.db.repos import Executor


async def insert(
    db: Executor,
    ticket_hash: bytes,
    user_id: uuid.UUID,
    host_id: uuid.UUID,
    expires_at: dt.datetime,
) -> None:
    await db.execute(
        "INSERT INTO ssh_tickets (ticket_hash, user_id, host_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        ticket_hash,
        user_id,
        host_id,
        expires_at,
    )


async def consume(
    db: Executor, ticket_hash: bytes, now: dt.datetime
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(user_id, host_id)`` of a live ticket, deleted in the same statement (single use)."""
    row = await db.fetchrow(
        "DELETE FROM ssh_tickets WHERE ticket_hash = $1 RETURNING user_id, host_id, expires_at",
        ticket_hash,
    )
    if row is None or row["expires_at"] <= now:
        return None
    return row["user_id"], row["host_id"]


async def delete_expired(db: Executor, now: dt.datetime) -> int:
    status = await db.execute("DELETE FROM ssh_tickets WHERE expires_at <= $1", now)
    return int(status.split()[-1])
