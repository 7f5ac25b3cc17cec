"""SQL for ``llm_credentials`` (named API keys, sealed) and ``llm_credential_users``.

The sealed key (``key_enc``) is read only by ``sealed_key`` and ``resolve_for_user``; every
other query returns ``Credential`` records, which carry the key's last four characters only.
"""

from __future__ import annotations

import uuid

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.credentials import Credential

_COLUMNS = (
    "c.id, c.name, c.key_hint, c.owner_user_id, o.username AS owner_username, c.is_default,"
    " c.created_at, c.rotated_at, c.created_by,"
    " ARRAY(SELECT u.username FROM llm_credential_users a JOIN users u ON u.id = a.user_id"
    "       WHERE a.credential_id = c.id ORDER BY u.username) AS assigned"
)
_FROM = "llm_credentials c LEFT JOIN users o ON o.id = c.owner_user_id"


def _credential(row: Record) -> Credential:
    return Credential(**dict(row))


@attrs.frozen(kw_only=True)
class Sealed:
    """What the forwarder's key resolution reads: one credential's sealed key."""

    credential_id: uuid.UUID
    name: str
    kind: str
    key_enc: bytes


async def insert(
    db: Executor,
    *,
    credential_id: uuid.UUID,
    name: str,
    key_enc: bytes,
    key_hint: str,
    owner_user_id: uuid.UUID | None,
    created_by: str,
) -> uuid.UUID:
    await db.execute(
        "INSERT INTO llm_credentials (id, name, key_enc, key_hint, owner_user_id, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        credential_id,
        name,
        key_enc,
        key_hint,
        owner_user_id,
        created_by,
    )
    return credential_id


async def get(
    db: Executor, credential_id: uuid.UUID, *, for_update: bool = False
) -> Credential | None:
    lock = " FOR UPDATE OF c" if for_update else ""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.id = $1{lock}", credential_id)
    return _credential(row) if row else None


async def get_by_name(db: Executor, name: str) -> Credential | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.name = $1", name)
    return _credential(row) if row else None


async def list_all(db: Executor, *, owner_user_id: uuid.UUID | None = None) -> list[Credential]:
    """Every credential (admin keys first, then users' own), or only ``owner_user_id``'s."""
    if owner_user_id is None:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM {_FROM}"
            " ORDER BY c.owner_user_id IS NOT NULL, o.username NULLS FIRST, c.name"
        )
    else:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.owner_user_id = $1 ORDER BY c.name",
            owner_user_id,
        )
    return [_credential(r) for r in rows]


async def sealed_key(db: Executor, credential_id: uuid.UUID) -> bytes | None:
    value = await db.fetchval("SELECT key_enc FROM llm_credentials WHERE id = $1", credential_id)
    return bytes(value) if value is not None else None


async def rotate(db: Executor, credential_id: uuid.UUID, key_enc: bytes, key_hint: str) -> None:
    await db.execute(
        "UPDATE llm_credentials SET key_enc = $2, key_hint = $3, rotated_at = now() WHERE id = $1",
        credential_id,
        key_enc,
        key_hint,
    )


async def set_default(db: Executor, credential_id: uuid.UUID, is_default: bool) -> None:
    """Make this key the team default (the former one stops being it), or stop it being one."""
    if is_default:
        await db.execute(
            "UPDATE llm_credentials SET is_default = false WHERE is_default AND id <> $1",
            credential_id,
        )
    await db.execute(
        "UPDATE llm_credentials SET is_default = $2 WHERE id = $1", credential_id, is_default
    )


async def assign(db: Executor, credential_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    """Make ``user_ids`` this key's whole list of users; each of them leaves any other key
    (a user has one assigned key). Call inside a transaction."""
    await db.execute("DELETE FROM llm_credential_users WHERE credential_id = $1", credential_id)
    await db.execute("DELETE FROM llm_credential_users WHERE user_id = ANY($1::uuid[])", user_ids)
    await db.execute(
        "INSERT INTO llm_credential_users (credential_id, user_id) SELECT $1, unnest($2::uuid[])",
        credential_id,
        user_ids,
    )


async def delete(db: Executor, credential_id: uuid.UUID) -> bool:
    result = await db.execute("DELETE FROM llm_credentials WHERE id = $1", credential_id)
    return bool(result == "DELETE 1")


_RESOLVE = """
SELECT id, name, kind, key_enc FROM (
    SELECT c.id, c.name, 'user' AS kind, c.key_enc, 0 AS rank, c.created_at
      FROM llm_credentials c WHERE $2 AND c.owner_user_id = $1
    UNION ALL
    SELECT c.id, c.name, 'team', c.key_enc, 1, c.created_at
      FROM llm_credential_users a JOIN llm_credentials c ON c.id = a.credential_id
     WHERE a.user_id = $1
    UNION ALL
    SELECT c.id, c.name, 'team', c.key_enc, 2, c.created_at
      FROM llm_credentials c WHERE c.is_default
) k ORDER BY rank, created_at DESC LIMIT 1
"""


async def resolve_for_user(db: Executor, user_id: uuid.UUID, user_keys: bool) -> Sealed | None:
    """In one query: the user's own newest key (when ``user_keys``), else the admin key
    assigned to them, else the team default."""
    row = await db.fetchrow(_RESOLVE, user_id, user_keys)
    if row is None:
        return None
    return Sealed(
        credential_id=row["id"], name=row["name"], kind=row["kind"], key_enc=bytes(row["key_enc"])
    )


async def owner_of_host(db: Executor, host_id: uuid.UUID) -> uuid.UUID | None:
    """The user a host (not deleted) belongs to."""
    value = await db.fetchval(
        "SELECT user_id FROM hosts WHERE id = $1 AND status <> 'deleted'", host_id
    )
    return value if isinstance(value, uuid.UUID) else None
