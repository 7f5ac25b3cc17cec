"""SQL for ``users`` and ``ssh_keys``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.users import SshKey, User

_USER_COLUMNS = (
    "id, username, role, status, expires_at, max_hosts, last_login_at, created_at, updated_at,"
    " session_epoch"
)
_KEY_COLUMNS = "id, user_id, name, public_key, fingerprint, created_at"
#: The user columns, for repos that join ``users`` (``auth_sessions``).
USER_COLUMNS = _USER_COLUMNS


def _user(row: Record) -> User:
    return User(**dict(row))


def _key(row: Record) -> SshKey:
    return SshKey(**dict(row))


@attrs.frozen(kw_only=True)
class UserPage:
    items: list[User]
    total: int


async def insert(
    db: Executor,
    *,
    username: str,
    password_hash: str,
    role: str,
    expires_at: dt.datetime | None,
    max_hosts: int,
) -> User:
    row = await db.fetchrow(
        f"INSERT INTO users (username, password_hash, role, expires_at, max_hosts)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_USER_COLUMNS}",
        username,
        password_hash,
        role,
        expires_at,
        max_hosts,
    )
    assert row is not None
    return _user(row)


async def get(db: Executor, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1{lock}", user_id)
    return _user(row) if row else None


async def get_many(db: Executor, user_ids: list[uuid.UUID]) -> list[User]:
    """The users among ``user_ids`` that exist (one query; the live-session watcher's)."""
    rows = await db.fetch(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ANY($1::uuid[])", user_ids)
    return [_user(r) for r in rows]


async def get_by_username(db: Executor, username: str) -> User | None:
    row = await db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1", username)
    return _user(row) if row else None


async def get_credentials(db: Executor, username: str) -> tuple[User, str] | None:
    """The user and their password hash, for login."""
    row = await db.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = $1", username
    )
    if row is None:
        return None
    data = dict(row)
    password_hash = data.pop("password_hash")
    return User(**data), password_hash


async def get_password_hash(db: Executor, user_id: uuid.UUID) -> str | None:
    value = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    return str(value) if value is not None else None


async def list_page(
    db: Executor,
    *,
    limit: int,
    offset: int,
    search: str | None = None,
    role: str | None = None,
    status: str | None = None,
) -> UserPage:
    where: list[str] = []
    args: list[Any] = []
    if search:
        args.append(
            "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        where.append(f"username ILIKE ${len(args)}")
    if role:
        args.append(role)
        where.append(f"role = ${len(args)}")
    if status:
        args.append(status)
        where.append(f"status = ${len(args)}")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    args += [limit, offset]
    rows = await db.fetch(
        f"SELECT {_USER_COLUMNS}, count(*) OVER () AS total FROM users{clause}"
        f" ORDER BY username LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    if rows:
        total = int(rows[0]["total"])
    else:  # past the last page the window function has no row to report the total on
        total = int(await db.fetchval(f"SELECT count(*) FROM users{clause}", *args[:-2]))
    items = []
    for row in rows:
        data = dict(row)
        del data["total"]
        items.append(User(**data))
    return UserPage(items=items, total=total)


async def update(db: Executor, user_id: uuid.UUID, **changes: Any) -> User | None:
    """Set the given columns (from a fixed list) and ``updated_at``."""
    allowed = {"role", "status", "expires_at", "max_hosts", "password_hash", "last_login_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    if not changes:
        return await get(db, user_id)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    row = await db.fetchrow(
        f"UPDATE users SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_USER_COLUMNS}",
        user_id,
        *changes.values(),
    )
    return _user(row) if row else None


async def delete(db: Executor, user_id: uuid.UUID) -> bool:
    return (await db.execute("DELETE FROM users WHERE id = $1", user_id)) == "DELETE 1"


async def count_active_admins(db: Executor, *, excluding: uuid.UUID | None = None) -> int:
    value = await db.fetchval(
        "SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'"
        " AND (expires_at IS NULL OR expires_at > now()) AND ($1::uuid IS NULL OR id <> $1)",
        excluding,
    )
    return int(value)


async def count_admins(db: Executor) -> int:
    """Admin accounts in any status."""
    return int(await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'"))


async def count(db: Executor) -> int:
    return int(await db.fetchval("SELECT count(*) FROM users"))


async def mark_expired(db: Executor) -> list[User]:
    """Flip active users whose expiry passed to ``expired``; returns them."""
    rows = await db.fetch(
        f"UPDATE users SET status = 'expired', updated_at = now()"
        f" WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= now()"
        f" RETURNING {_USER_COLUMNS}"
    )
    return [_user(r) for r in rows]


# --- ssh keys -----------------------------------------------------------------------------------


async def insert_key(
    db: Executor, *, user_id: uuid.UUID, name: str, public_key: str, fingerprint: str
) -> SshKey:
    row = await db.fetchrow(
        f"INSERT INTO ssh_keys (user_id, name, public_key, fingerprint) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_KEY_COLUMNS}",
        user_id,
        name,
        public_key,
        fingerprint,
    )
    assert row is not None
    return _key(row)


async def list_keys(db: Executor, user_id: uuid.UUID) -> list[SshKey]:
    rows = await db.fetch(
        f"SELECT {_KEY_COLUMNS} FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id", user_id
    )
    return [_key(r) for r in rows]


async def delete_key(db: Executor, user_id: uuid.UUID, key_id: uuid.UUID) -> SshKey | None:
    row = await db.fetchrow(
        f"DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING {_KEY_COLUMNS}",
        key_id,
        user_id,
    )
    return _key(row) if row else None
