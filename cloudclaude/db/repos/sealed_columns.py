"""SQL for columns that hold sealed secrets, whichever table they are in (re-sealing)."""

from __future__ import annotations

import uuid

import attrs

from cloudclaude.db.repos import Executor


@attrs.frozen
class SealedColumn:
    """A ``bytea`` column of sealed values, keyed by the table's ``id`` (constants only: the
    names go into SQL text)."""

    table: str
    column: str


#: Hosts' box private keys, exits' credentials and Claude Code API keys.
BOX_KEYS = SealedColumn("hosts", "box_private_key_enc")
EXIT_CREDENTIALS = SealedColumn("egress_ips", "credentials_enc")
LLM_CREDENTIALS = SealedColumn("llm_credentials", "key_enc")


async def ids_with_version(db: Executor, sealed: SealedColumn, version: int) -> list[uuid.UUID]:
    """Rows whose sealed value starts with the format byte ``version``."""
    rows = await db.fetch(
        f"SELECT id FROM {sealed.table} WHERE {sealed.column} IS NOT NULL"
        f" AND length({sealed.column}) > 0 AND get_byte({sealed.column}, 0) = $1",
        version,
    )
    return [r["id"] for r in rows]


async def for_update(db: Executor, sealed: SealedColumn, row_id: uuid.UUID) -> bytes | None:
    """The row's sealed value, locked for the rest of the transaction."""
    value = await db.fetchval(
        f"SELECT {sealed.column} FROM {sealed.table} WHERE id = $1 FOR UPDATE", row_id
    )
    return bytes(value) if value is not None else None


async def replace(
    db: Executor, sealed: SealedColumn, row_id: uuid.UUID, old: bytes, new: bytes
) -> bool:
    """Set the sealed value only if it is still ``old`` (compare and set)."""
    result = await db.execute(
        f"UPDATE {sealed.table} SET {sealed.column} = $3 WHERE id = $1 AND {sealed.column} = $2",
        row_id,
        old,
        new,
    )
    return bool(result == "UPDATE 1")
