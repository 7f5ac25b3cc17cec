"""SQL for ``user_exits``: the exits a user may choose for boxes they make themselves."""

from __future__ import annotations

import uuid

from cloudclaude.db.repos import Executor


async def for_user(db: Executor, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.fetch(
        "SELECT exit_id FROM user_exits WHERE user_id = $1 ORDER BY exit_id", user_id
    )
    return [row["exit_id"] for row in rows]


async def replace(db: Executor, user_id: uuid.UUID, exit_ids: list[uuid.UUID]) -> None:
    """Make ``exit_ids`` the user's whole list (call inside a transaction)."""
    await db.execute("DELETE FROM user_exits WHERE user_id = $1", user_id)
    await db.execute(
        "INSERT INTO user_exits (user_id, exit_id) SELECT $1, unnest($2::uuid[])",
        user_id,
        exit_ids,
    )
