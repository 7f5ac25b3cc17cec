"""Sealed secrets in their rows: sealing bound to the owning row, and re-sealing old values.

Hosts' box private keys (purpose ``box-key``) and exits' credentials (``exit-credentials``) are
sealed as version 2 values bound to their row's id (``cloudclaude.auth.sealing``). Version 1
values (bound to the purpose only) still open; ``reseal_all`` rewrites every one of them at
daemon start-up, row by row, each in its own transaction under ``FOR UPDATE``, so two daemons
can run it at once and a second run changes nothing. ``reseal_on_read`` is the fallback for a
value read before that (compare and set, so a concurrent change wins). A value that does not
open with this server key is left as it is and logged: a secret is never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog

from cloudclaude.auth.sealing import V1, SealError, seal, unseal, version
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import Executor
from cloudclaude.db.repos import exits as exits_repo
from cloudclaude.db.repos import hosts as hosts_repo

BOX_KEY_PURPOSE = "box-key"
EXIT_CREDENTIALS = "exit-credentials"

log = structlog.get_logger(component="sealing")

_Ids = Callable[[Executor, int], Awaitable[list[uuid.UUID]]]
_Lock = Callable[[Executor, uuid.UUID], Awaitable[bytes | None]]
_Replace = Callable[[Executor, uuid.UUID, bytes, bytes], Awaitable[bool]]

#: purpose -> (ids with a version, read under lock, compare and set)
_TABLES: dict[str, tuple[_Ids, _Lock, _Replace]] = {
    BOX_KEY_PURPOSE: (
        hosts_repo.ids_with_box_key_version,
        hosts_repo.sealed_box_key_for_update,
        hosts_repo.replace_sealed_box_key,
    ),
    EXIT_CREDENTIALS: (
        exits_repo.ids_with_credentials_version,
        exits_repo.sealed_credentials_for_update,
        exits_repo.replace_sealed_credentials,
    ),
}


async def reseal_all(db: Database, server_key: bytes) -> int:
    """Rewrite every stored version 1 value as version 2; the number rewritten."""
    done = 0
    for purpose, (ids, lock, replace) in _TABLES.items():
        for row_id in await ids(db, V1):
            async with db.transaction() as conn:
                sealed = await lock(conn, row_id)
                if sealed is None or version(sealed) != V1:
                    continue  # another daemon got here first, or the row changed
                try:
                    plain = unseal(server_key, purpose, sealed, owner=row_id)
                except SealError:
                    log.warning("reseal.unreadable", purpose=purpose, row_id=str(row_id))
                    continue
                new = seal(server_key, purpose, plain, owner=row_id)
                if await replace(conn, row_id, sealed, new):
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
    _, _, replace = _TABLES[purpose]
    await replace(db, row_id, sealed, seal(server_key, purpose, plain, owner=row_id))
