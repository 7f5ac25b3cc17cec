"""SQL for ``llm_usage`` (one row per forwarded request) and the users' budget columns.

A row keeps the names of its user, host and key as they were (``username``,
``host_short_id``, ``credential_name``), so it reads the same after those are deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.db.pool import Record
from cloudclaude.db.repos import Executor
from cloudclaude.model.credentials import (
    DailyUserTokens,
    GroupBy,
    UsageFilter,
    UsageGroup,
    UsageRow,
)

_TOKENS = "(input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens)"
_SUMS = (
    "count(*) AS requests, coalesce(sum(input_tokens), 0) AS input_tokens,"
    " coalesce(sum(output_tokens), 0) AS output_tokens,"
    " coalesce(sum(cache_creation_tokens), 0) AS cache_creation_tokens,"
    " coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,"
    " count(*) FILTER (WHERE status >= 400) AS errors"
)
#: group_by -> the SQL expression of the group's key (constants only: they go into SQL text).
_KEYS: dict[GroupBy, str] = {
    "day": "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "user": "username",
    "model": "model",
}


def _group(row: Record) -> UsageGroup:
    return UsageGroup(
        key=str(row["key"]),
        requests=int(row["requests"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        cache_creation_tokens=int(row["cache_creation_tokens"]),
        cache_read_tokens=int(row["cache_read_tokens"]),
        errors=int(row["errors"]),
    )


@attrs.frozen(kw_only=True)
class BudgetColumns:
    monthly_token_budget: int | None
    llm_gateway: bool
    budget_notice_month: dt.date | None


async def insert(db: Executor, row: UsageRow, at: dt.datetime) -> None:
    """One request's figures, with the names of its user, host and key as they are now."""
    await db.execute(
        "INSERT INTO llm_usage (at, user_id, username, host_id, host_short_id, credential_id,"
        " credential_name, kind, model, input_tokens, output_tokens, cache_creation_tokens,"
        " cache_read_tokens, status, latency_ms) VALUES ($1, $2,"
        " coalesce((SELECT username FROM users WHERE id = $2), ''), $3,"
        " coalesce((SELECT short_id FROM hosts WHERE id = $3), ''), $4,"
        " coalesce((SELECT name FROM llm_credentials WHERE id = $4), ''),"
        " $5, $6, $7, $8, $9, $10, $11, $12)",
        at,
        row.user_id,
        row.host_id,
        row.credential_id,
        row.kind,
        row.model[:200],
        max(0, row.input_tokens),
        max(0, row.output_tokens),
        max(0, row.cache_creation_tokens),
        max(0, row.cache_read_tokens),
        row.status,
        row.latency_ms,
    )


async def tokens_between(
    db: Executor, user_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> int:
    """All four token kinds of ``user_id``'s requests in ``[since, until)``."""
    value = await db.fetchval(
        f"SELECT coalesce(sum({_TOKENS}), 0) FROM llm_usage"
        " WHERE user_id = $1 AND at >= $2 AND at < $3",
        user_id,
        since,
        until,
    )
    return int(value)


def _where(where: UsageFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("user_id", "=", where.user_id),
        ("host_id", "=", where.host_id),
        ("username", "=", where.username),
        ("host_short_id", "=", where.host_short_id),
        ("at", ">=", where.since),
        ("at", "<", where.until),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def grouped(db: Executor, where: UsageFilter, group_by: GroupBy) -> list[UsageGroup]:
    """Sums per day (oldest first), per user or per model (most tokens first)."""
    key = _KEYS[group_by]
    sql_where, args = _where(where)
    order = "key" if group_by == "day" else f"sum({_TOKENS}) DESC, key"
    rows = await db.fetch(
        f"SELECT {key} AS key, {_SUMS} FROM llm_usage{sql_where} GROUP BY 1 ORDER BY {order}",
        *args,
    )
    return [_group(r) for r in rows]


async def totals(db: Executor, where: UsageFilter) -> UsageGroup:
    sql_where, args = _where(where)
    row = await db.fetchrow(f"SELECT 'all' AS key, {_SUMS} FROM llm_usage{sql_where}", *args)
    assert row is not None
    return _group(row)


async def daily_by_user(db: Executor, where: UsageFilter) -> list[DailyUserTokens]:
    """Each user's tokens per day (UTC), for the chart."""
    sql_where, args = _where(where)
    rows = await db.fetch(
        f"SELECT (at AT TIME ZONE 'UTC')::date AS day, username, sum({_TOKENS}) AS tokens"
        f" FROM llm_usage{sql_where} GROUP BY 1, 2 ORDER BY 1, 2",
        *args,
    )
    return [
        DailyUserTokens(day=r["day"], username=r["username"], tokens=int(r["tokens"])) for r in rows
    ]


async def budget_columns(db: Executor, user_id: uuid.UUID) -> BudgetColumns | None:
    row = await db.fetchrow(
        "SELECT monthly_token_budget, llm_gateway, budget_notice_month FROM users WHERE id = $1",
        user_id,
    )
    return BudgetColumns(**dict(row)) if row else None


async def set_budget(db: Executor, user_id: uuid.UUID, monthly_tokens: int | None) -> bool:
    result = await db.execute(
        "UPDATE users SET monthly_token_budget = $2, updated_at = now() WHERE id = $1",
        user_id,
        monthly_tokens,
    )
    return bool(result == "UPDATE 1")


async def set_gateway(db: Executor, user_id: uuid.UUID, enabled: bool) -> bool:
    result = await db.execute(
        "UPDATE users SET llm_gateway = $2, updated_at = now() WHERE id = $1", user_id, enabled
    )
    return bool(result == "UPDATE 1")


async def claim_notice(db: Executor, user_id: uuid.UUID, month: dt.date) -> bool:
    """Mark ``month``'s 80% notice as given; False when it already was (so it goes once)."""
    result = await db.execute(
        "UPDATE users SET budget_notice_month = $2"
        " WHERE id = $1 AND budget_notice_month IS DISTINCT FROM $2",
        user_id,
        month,
    )
    return bool(result == "UPDATE 1")
