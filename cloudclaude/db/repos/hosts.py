"""SQL for ``hosts``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.hosts import Host, HostLimits

_COLUMNS = (
    # A deleted host whose owner was deleted keeps who owned it in ``former_user_id``.
    "id, short_id, COALESCE(user_id, former_user_id) AS user_id, status, desired_state,"
    " image_ref, cpus, memory_mb, pids, disk_gb,"
    " timezone, box_public_key, error_code, error_message, last_activity_at, last_used_at,"
    " idle_stop_after_s, allowed_domains, created_at, updated_at, roll_pending,"
    # Built from another image than the current one (``box_image``, migration 0009).
    " (image_ref IS NOT NULL AND image_ref <> COALESCE((SELECT ref FROM box_image), image_ref))"
    "  AS image_outdated,"
    # The bound exit, if any, as one JSON object (``model.exits.ExitRef``).
    " (SELECT jsonb_build_object('id', e.id, 'label', e.label, 'kind', e.kind,"
    "  'verified', e.verify_url IS NOT NULL OR e.verify_dns_name IS NOT NULL)"
    "  FROM host_egress_bindings b JOIN egress_ips e ON e.id = b.egress_ip_id"
    "  WHERE b.host_id = hosts.id) AS egress"
)


def _host(row: Record) -> Host:
    return Host(**dict(row))


@attrs.frozen(kw_only=True)
class HostPage:
    items: list[Host]
    total: int


async def insert(
    db: Executor,
    *,
    short_id: str,
    user_id: uuid.UUID,
    limits: HostLimits,
    timezone: str,
    ssh_password_hash: str,
    box_public_key: str,
    box_private_key_enc: bytes,
    host_id: uuid.UUID | None = None,
) -> Host:
    """A new host; ``host_id`` is chosen by the caller when a sealed value is bound to it."""
    row = await db.fetchrow(
        "INSERT INTO hosts (id, short_id, user_id, cpus, memory_mb, pids, disk_gb, timezone,"
        " ssh_password_hash, box_public_key, box_private_key_enc)"
        " VALUES (COALESCE($11, gen_random_uuid()), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        f" RETURNING {_COLUMNS}",
        short_id,
        user_id,
        limits.cpus,
        limits.memory_mb,
        limits.pids,
        limits.disk_gb,
        timezone,
        ssh_password_hash,
        box_public_key,
        box_private_key_enc,
        host_id,
    )
    assert row is not None
    return _host(row)


async def get(db: Executor, host_id: uuid.UUID, *, for_update: bool = False) -> Host | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM hosts WHERE id = $1{lock}", host_id)
    return _host(row) if row else None


async def get_by_short_id(db: Executor, short_id: str) -> Host | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM hosts WHERE short_id = $1", short_id)
    return _host(row) if row else None


async def short_ids(db: Executor, host_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """id → short id of the hosts among ``host_ids`` (deleted ones too), in one query."""
    rows = await db.fetch(
        "SELECT id, short_id FROM hosts WHERE id = ANY($1::uuid[])", list(set(host_ids))
    )
    return {row["id"]: row["short_id"] for row in rows}


async def list_hosts(
    db: Executor,
    *,
    limit: int,
    offset: int,
    user_id: uuid.UUID | None = None,
    status: str | None = None,
    include_deleted: bool = False,
) -> HostPage:
    clauses: list[str] = []
    args: list[Any] = []
    if user_id is not None:
        args.append(user_id)
        clauses.append(f"user_id = ${len(args)}")
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    elif not include_deleted:
        clauses.append("status <> 'deleted'")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    count = f"SELECT count(*) FROM hosts{where}"
    # The total rides along as an init plan (counted once), saving a round trip per page.
    rows = await db.fetch(
        f"SELECT ({count}) AS total, {_COLUMNS} FROM hosts{where} ORDER BY created_at DESC, id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else await db.fetchval(count, *args)
    items = [Host(**{k: v for k, v in r.items() if k != "total"}) for r in rows]
    return HostPage(items=items, total=int(total))


async def live_for_user(db: Executor, user_id: uuid.UUID) -> list[Host]:
    """The user's hosts that are not deleted, locked (``FOR UPDATE``), oldest first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM hosts WHERE user_id = $1 AND status <> 'deleted'"
        " ORDER BY created_at, id FOR UPDATE",
        user_id,
    )
    return [_host(r) for r in rows]


async def keep_former_owner(db: Executor, user_id: uuid.UUID) -> int:
    """Record the owner on each of the user's deleted hosts (before the user row goes)."""
    result = await db.execute(
        "UPDATE hosts SET former_user_id = user_id WHERE user_id = $1 AND status = 'deleted'",
        user_id,
    )
    return int(result.split()[-1])


async def count_for_user(db: Executor, user_id: uuid.UUID) -> int:
    """Hosts that count against ``max_hosts`` (all but deleted ones)."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM hosts WHERE user_id = $1 AND status <> 'deleted'", user_id
        )
    )


async def update(db: Executor, host_id: uuid.UUID, **fields: Any) -> Host | None:
    """Set columns other than ``status`` by name (callers pass only known column names)."""
    assert "status" not in fields, "status moves through cloudclaude.domain.host_states"
    return await write(db, host_id, fields=fields)


async def write(
    db: Executor,
    host_id: uuid.UUID,
    *,
    fields: dict[str, Any],
    from_statuses: list[str] | None = None,
    lease: tuple[uuid.UUID, str] | None = None,
) -> Host | None:
    """Set columns by name and bump ``updated_at``, in one statement, only when the host is in
    one of ``from_statuses`` and (with ``lease``) the task still holds its lease; else None."""
    names = list(fields)
    args: list[Any] = [host_id, *fields.values()]
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    sets = f"{sets}, updated_at = now()" if sets else "updated_at = now()"
    where = ["id = $1"]
    if from_statuses is not None:
        args.append(from_statuses)
        where.append(f"status = ANY(${len(args)})")
    if lease is not None:
        args += list(lease)
        where.append(
            f"EXISTS (SELECT 1 FROM tasks WHERE tasks.id = ${len(args) - 1}"
            f" AND tasks.lease_owner = ${len(args)} AND tasks.status = 'running'"
            " AND tasks.lease_expires_at > now())"
        )
    row = await db.fetchrow(
        f"UPDATE hosts SET {sets} WHERE {' AND '.join(where)} RETURNING {_COLUMNS}", *args
    )
    return _host(row) if row else None


async def lease_held(db: Executor, task_id: uuid.UUID, owner: str) -> bool:
    """Whether ``owner`` still holds the running task's unexpired lease."""
    held = await db.fetchval(
        "SELECT true FROM tasks WHERE id = $1 AND lease_owner = $2 AND status = 'running'"
        " AND lease_expires_at > now()",
        task_id,
        owner,
    )
    return bool(held)


async def get_secrets(db: Executor, host_id: uuid.UUID) -> tuple[str | None, bytes | None]:
    """The SSH password hash and the sealed box private key."""
    row = await db.fetchrow(
        "SELECT ssh_password_hash, box_private_key_enc FROM hosts WHERE id = $1", host_id
    )
    if row is None:
        return None, None
    return row["ssh_password_hash"], row["box_private_key_enc"]


async def status_counts(db: Executor) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM hosts GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


async def running_of_expired_users(db: Executor) -> list[Host]:
    """Hosts meant to run whose owner is expired (or past ``expires_at``)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM hosts"
        " WHERE desired_state = 'running' AND status <> 'deleted' AND user_id IN ("
        " SELECT id FROM users"
        " WHERE status = 'expired' OR (expires_at IS NOT NULL AND expires_at <= now()))"
    )
    return [_host(r) for r in rows]


async def changed_since(
    db: Executor, since: dt.datetime, *, user_id: uuid.UUID | None = None, limit: int = 500
) -> list[Host]:
    """Hosts updated after ``since``, oldest change first (live updates)."""
    owner = " AND user_id = $3" if user_id is not None else ""
    args: list[Any] = [since, limit] + ([user_id] if user_id is not None else [])
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM hosts WHERE updated_at > $1{owner} ORDER BY updated_at LIMIT $2",
        *args,
    )
    return [_host(r) for r in rows]


async def with_status(db: Executor, statuses: tuple[str, ...]) -> list[Host]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM hosts WHERE status = ANY($1)", list(statuses))
    return [_host(r) for r in rows]


async def owner_uses_llm_gateway(db: Executor, host_id: uuid.UUID) -> bool:
    """Whether the host's user has Claude Code use the credentials endpoint (``llm_gateway``);
    False for a host whose user is gone."""
    value = await db.fetchval(
        "SELECT u.llm_gateway FROM hosts h JOIN users u ON u.id = h.user_id WHERE h.id = $1",
        host_id,
    )
    return bool(value)


async def touch_activity(db: Executor, host_id: uuid.UUID, at: dt.datetime) -> None:
    """``last_activity_at`` moves forward only; ``updated_at`` is left alone (not a change)."""
    await db.execute(
        "UPDATE hosts SET last_activity_at = greatest(coalesce(last_activity_at, $2), $2)"
        " WHERE id = $1",
        host_id,
        at,
    )


async def for_user(db: Executor, user_id: uuid.UUID) -> list[Host]:
    """A user's hosts, most recently used first (then newest): the SSH routing order."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM hosts WHERE user_id = $1 AND status <> 'deleted'"
        " ORDER BY last_used_at DESC NULLS LAST, created_at DESC, id",
        user_id,
    )
    return [_host(r) for r in rows]


async def touch_used(db: Executor, host_id: uuid.UUID, at: dt.datetime) -> None:
    """A session opened: ``last_used_at`` (routing) and ``last_activity_at`` (idle) move on."""
    await db.execute(
        "UPDATE hosts SET last_used_at = $2,"
        " last_activity_at = greatest(coalesce(last_activity_at, $2), $2) WHERE id = $1",
        host_id,
        at,
    )
