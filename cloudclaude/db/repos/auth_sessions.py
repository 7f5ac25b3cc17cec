"""SQL for ``auth_sessions`` (server-side sign-in sessions) and the user's ``session_epoch``."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.db.repos.users import USER_COLUMNS
from cloudclaude.model.sessions import AuthSession
from cloudclaude.model.users import User

_COLUMNS = "id, user_id, epoch, scope, authenticated_at, created_at, expires_at"
_JOINED = (
    ", ".join(f"s.{c} AS s_{c}" for c in _COLUMNS.split(", "))
    + ", "
    + ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
)


def _session(row: Record) -> AuthSession:
    return AuthSession(**dict(row))


async def insert(
    db: Executor, *, user_id: uuid.UUID, epoch: int, scope: str, expires_at: dt.datetime
) -> AuthSession:
    row = await db.fetchrow(
        f"INSERT INTO auth_sessions (user_id, epoch, scope, expires_at) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_COLUMNS}",
        user_id,
        epoch,
        scope,
        expires_at,
    )
    assert row is not None
    return _session(row)


async def get_with_user(db: Executor, session_id: uuid.UUID) -> tuple[AuthSession, User] | None:
    """The session and its user in one round trip (None: no such session)."""
    row = await db.fetchrow(
        f"SELECT {_JOINED} FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        session_id,
    )
    if row is None:
        return None
    data = dict(row)
    session = AuthSession(**{k[2:]: data.pop(k) for k in list(data) if k.startswith("s_")})
    return session, User(**data)


async def alive(db: Executor, session_id: uuid.UUID) -> bool:
    """Whether the session still authenticates: not expired, of the user's current epoch, and
    the user active (what a long-lived stream re-checks on each poll)."""
    value = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM auth_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id = $1 AND s.expires_at > now() AND s.epoch = u.session_epoch"
        " AND u.status = 'active' AND (u.expires_at IS NULL OR u.expires_at > now()))",
        session_id,
    )
    return bool(value)


async def existing(db: Executor, session_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``session_ids`` still have a row that has not expired (one query)."""
    rows = await db.fetch(
        "SELECT id FROM auth_sessions WHERE id = ANY($1::uuid[]) AND expires_at > now()",
        session_ids,
    )
    return {row["id"] for row in rows}


async def mark_authenticated(db: Executor, session_id: uuid.UUID) -> None:
    """The password was just given in this session (recent-auth starts again)."""
    await db.execute("UPDATE auth_sessions SET authenticated_at = now() WHERE id = $1", session_id)


async def delete(db: Executor, session_id: uuid.UUID) -> bool:
    return (await db.execute("DELETE FROM auth_sessions WHERE id = $1", session_id)) == "DELETE 1"


async def end_all(db: Executor, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
    """Bump the user's ``session_epoch`` and delete their sessions (but ``keep``, which moves to
    the new epoch); returns the new epoch. Run it in the transaction of the change."""
    epoch = await db.fetchval(
        "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch",
        user_id,
    )
    await db.execute(
        "DELETE FROM auth_sessions WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2)",
        user_id,
        keep,
    )
    if keep is not None:
        await db.execute(
            "UPDATE auth_sessions SET epoch = $2, authenticated_at = now() WHERE id = $1",
            keep,
            epoch,
        )
    return int(epoch) if epoch is not None else 0


async def delete_expired(db: Executor) -> int:
    status = await db.execute("DELETE FROM auth_sessions WHERE expires_at <= now()")
    return int(status.split()[-1])
