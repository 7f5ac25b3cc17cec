"""Sealed secrets in their rows: sealing bound to the owning row, and re-sealing old values.

Hosts' box private keys (purpose ``box-key``), exits' credentials (``exit-credentials``) and
Claude Code API keys (``llm-credential``) are
sealed as version 2 values bound to their row's id (``cloudclaude.auth.sealing``). Version 1
values (bound to the purpose only) still open; ``reseal_all`` rewrites every one of them at
daemon start-up, row by row, each in its own transaction under ``FOR UPDATE``, so two daemons
can run it at once and a second run changes nothing. ``reseal_on_read`` is the fallback for a
value read before that (compare and set, so a concurrent change wins). A value that does not
open with this server key is left as it is and logged: a secret is never lost.
"""

from __future__ import annotations

import uuid

import structlog

from cloudclaude.auth.sealing import V1, SealError, seal, unseal, version
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import Executor, sealed_columns

BOX_KEY_PURPOSE = "box-key"
EXIT_CREDENTIALS = "exit-credentials"
LLM_CREDENTIAL = "llm-credential"

log = structlog.get_logger(component="sealing")

#: purpose -> the column its sealed values are stored in
_COLUMNS: dict[str, sealed_columns.SealedColumn] = {
    BOX_KEY_PURPOSE: sealed_columns.BOX_KEYS,
    EXIT_CREDENTIALS: sealed_columns.EXIT_CREDENTIALS,
    LLM_CREDENTIAL: sealed_columns.LLM_CREDENTIALS,
}


async def reseal_all(db: Database, server_key: bytes) -> int:
    """Rewrite every stored version 1 value as version 2; the number rewritten."""
    done = 0
    for purpose, column in _COLUMNS.items():
        for row_id in await sealed_columns.ids_with_version(db, column, V1):
            async with db.transaction() as conn:
                sealed = await sealed_columns.for_update(conn, column, row_id)
                if sealed is None or version(sealed) != V1:
                    continue  # another daemon got here first, or the row changed
                try:
                    plain = unseal(server_key, purpose, sealed, owner=row_id)
                except SealError:
                    log.warning("reseal.unreadable", purpose=purpose, row_id=str(row_id))
                    continue
                new = seal(server_key, purpose, plain, owner=row_id)
                if await sealed_columns.replace(conn, column, row_id, sealed, new):
                    done += 1
    if done:
        log.info("reseal.done", count=done)
    return done


async def reseal_on_read(
    db: Executor, server_key: bytes, purpose: str, row_id: uuid.UUID, sealed: bytes, plain: bytes
) -> None:
    """After ``sealed`` opened as ``plain``: store it as version 2 if it was version 1."""
    if version(sealed) != V1:
        return
    new = seal(server_key, purpose, plain, owner=row_id)
    await sealed_columns.replace(db, _COLUMNS[purpose], row_id, sealed, new)
