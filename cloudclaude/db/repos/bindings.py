"""SQL for ``host_egress_bindings``: one exit per host, any number of hosts per exit.

A change of binding also bumps the host's ``updated_at``, so live views see the new exit.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.exits import Binding

_SELECT = (
    "SELECT b.id, b.host_id, h.short_id AS host_short_id, b.egress_ip_id,"
    " e.label AS egress_label, b.created_at"
    " FROM host_egress_bindings b JOIN hosts h ON h.id = b.host_id"
    " JOIN egress_ips e ON e.id = b.egress_ip_id"
)


@attrs.frozen(kw_only=True)
class BindingPage:
    items: list[Binding]
    total: int


def _binding(row: Record) -> Binding:
    return Binding(**dict(row))


async def _touch_host(db: Executor, host_id: uuid.UUID) -> None:
    await db.execute("UPDATE hosts SET updated_at = now() WHERE id = $1", host_id)


async def insert(db: Executor, host_id: uuid.UUID, exit_id: uuid.UUID) -> Binding:
    """Raises ``UniqueViolation`` when the host already has a binding."""
    binding_id = await db.fetchval(
        "INSERT INTO host_egress_bindings (host_id, egress_ip_id) VALUES ($1, $2) RETURNING id",
        host_id,
        exit_id,
    )
    await _touch_host(db, host_id)
    found = await get(db, binding_id)
    assert found is not None
    return found


async def get(db: Executor, binding_id: uuid.UUID) -> Binding | None:
    row = await db.fetchrow(f"{_SELECT} WHERE b.id = $1", binding_id)
    return _binding(row) if row else None


async def for_host(db: Executor, host_id: uuid.UUID) -> Binding | None:
    row = await db.fetchrow(f"{_SELECT} WHERE b.host_id = $1", host_id)
    return _binding(row) if row else None


async def delete(db: Executor, binding_id: uuid.UUID) -> Binding | None:
    found = await get(db, binding_id)
    if found is None:
        return None
    await db.execute("DELETE FROM host_egress_bindings WHERE id = $1", binding_id)
    await _touch_host(db, found.host_id)
    return found


async def list_page(
    db: Executor,
    *,
    limit: int,
    offset: int,
    host_id: uuid.UUID | None = None,
    exit_id: uuid.UUID | None = None,
) -> BindingPage:
    """Bindings of hosts that are not deleted, oldest first."""
    clauses = ["h.status <> 'deleted'"]
    args: list[Any] = []
    if host_id is not None:
        args.append(host_id)
        clauses.append(f"b.host_id = ${len(args)}")
    if exit_id is not None:
        args.append(exit_id)
        clauses.append(f"b.egress_ip_id = ${len(args)}")
    where = " WHERE " + " AND ".join(clauses)
    total = await db.fetchval(
        "SELECT count(*) FROM host_egress_bindings b JOIN hosts h ON h.id = b.host_id" + where,
        *args,
    )
    rows = await db.fetch(
        f"{_SELECT}{where} ORDER BY b.created_at, b.id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return BindingPage(items=[_binding(r) for r in rows], total=int(total))


async def drop_deleted_hosts(db: Executor, exit_id: uuid.UUID) -> int:
    """Forget the exit's bindings to deleted hosts (they hold nothing; the exit may go)."""
    status = await db.execute(
        "DELETE FROM host_egress_bindings b USING hosts h"
        " WHERE h.id = b.host_id AND b.egress_ip_id = $1 AND h.status = 'deleted'",
        exit_id,
    )
    return int(status.split()[-1])
