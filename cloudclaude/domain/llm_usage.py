"""Token usage of the forwarded Claude Code requests, and the users' monthly budgets.

``record`` stores one row per request (tokens, model, status, latency; nothing of the prompt
or the answer). A user's budget is their ``monthly_token_budget``, or when that is NULL the
team's ``credentials.default_monthly_tokens`` (0: none); the month is the calendar month in
UTC and all four token kinds count. The first row of a month that takes a user to 80% of
their budget audits ``llm.budget.warning`` once (``users.budget_notice_month`` remembers the
month). ``llm_gateway`` off means the user runs Claude Code with their own subscription.
"""

from __future__ import annotations

import datetime as dt
import uuid

from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import parse_when, utcnow
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import Executor
from cloudclaude.db.repos import llm_usage as repo
from cloudclaude.domain import audit
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import SYSTEM, Actor
from cloudclaude.model.credentials import (
    GROUP_BYS,
    BudgetState,
    GroupBy,
    UsageFilter,
    UsageReport,
    UsageRow,
    month_bounds,
)

#: The largest budget accepted (a bigint holds more; no team spends this in a month).
MAX_BUDGET = 10**15


def parse_group_by(text: str | None) -> GroupBy:
    """``day`` (the default), ``user`` or ``model``; anything else is ``bad_query``."""
    value = text or "day"
    for choice in GROUP_BYS:
        if value == choice:
            return choice
    raise CloudClaudeError("bad_query", f"group_by must be one of {', '.join(GROUP_BYS)}")


def parse_filter(
    *,
    user: str | None = None,
    host: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> UsageFilter:
    """A filter from words: ``user`` a username or id, ``host`` a short id or id, ``since``
    and ``until`` ISO 8601 dates or times; a bare date as ``until`` includes that day."""
    user_id = host_id = None
    username = host_short_id = None
    if user:
        try:
            user_id = uuid.UUID(user)
        except ValueError:
            username = user
    if host:
        try:
            host_id = uuid.UUID(host)
        except ValueError:
            host_short_id = host
    start = parse_when(since, "from", slug="bad_query") if since else None
    end = parse_when(until, "to", slug="bad_query") if until else None
    if end is not None and until is not None and len(until.strip()) == 10:
        end += dt.timedelta(days=1)  # "to 2026-11-30" means to the end of that day
    if start is not None and end is not None and end <= start:
        raise CloudClaudeError("bad_query", "to must be after from")
    return UsageFilter(
        user_id=user_id,
        host_id=host_id,
        username=username,
        host_short_id=host_short_id,
        since=start,
        until=end,
    )


class LlmUsage:
    def __init__(self, db: Database, live: LiveSettings) -> None:
        self._db = db
        self._live = live

    # --- what the forwarder calls ---------------------------------------------------------

    async def record(self, row: UsageRow) -> None:
        """Insert the row; the first row of a month that takes the user to 80% of their
        budget audits ``llm.budget.warning`` (once a month)."""
        now = utcnow()
        async with self._db.transaction() as conn:
            await repo.insert(conn, row, now)
            state = await self._budget(conn, row.user_id, now)
            if not state.warning:
                return
            month = month_bounds(now)[0].date()
            if await repo.claim_notice(conn, row.user_id, month):
                await audit.record(
                    conn,
                    "llm.budget.warning",
                    SYSTEM,
                    user_id=row.user_id,
                    used_tokens=state.used_tokens,
                    limit_tokens=state.limit_tokens,
                    month=month.strftime("%Y-%m"),
                    resets_at=state.resets_at.isoformat(),
                )

    async def budget(self, user_id: uuid.UUID) -> BudgetState:
        return await self._budget(self._db, user_id, utcnow())

    async def gateway_enabled(self, user_id: uuid.UUID) -> bool:
        """``users.llm_gateway`` (False for an unknown user)."""
        columns = await repo.budget_columns(self._db, user_id)
        return columns is not None and columns.llm_gateway

    # --- reading --------------------------------------------------------------------------

    async def report(self, where: UsageFilter, group_by: GroupBy) -> UsageReport:
        return UsageReport(
            group_by=group_by,
            groups=await repo.grouped(self._db, where, group_by),
            totals=await repo.totals(self._db, where),
            daily=await repo.daily_by_user(self._db, where),
        )

    async def own_budget(self, user_id: uuid.UUID) -> int | None:
        """The user's own budget setting (None: the team default applies)."""
        columns = await repo.budget_columns(self._db, user_id)
        return None if columns is None else columns.monthly_token_budget

    # --- changes --------------------------------------------------------------------------

    async def set_budget(
        self, actor: Actor, user_id: uuid.UUID, monthly_tokens: int | None
    ) -> BudgetState:
        """Set a user's monthly budget (None: the team default applies)."""
        if monthly_tokens is not None and not 0 <= monthly_tokens <= MAX_BUDGET:
            raise CloudClaudeError(
                "validation_failed", f"monthly_tokens must be 0 to {MAX_BUDGET} or null"
            )
        async with self._db.transaction() as conn:
            if not await repo.set_budget(conn, user_id, monthly_tokens):
                raise CloudClaudeError("not_found", f"no user {user_id}")
            await audit.record(
                conn,
                "admin.user.updated",
                actor,
                user_id=user_id,
                changed=["monthly_token_budget"],
                monthly_token_budget=monthly_tokens,
            )
            return await self._budget(conn, user_id, utcnow())

    async def set_gateway(self, actor: Actor, user_id: uuid.UUID, enabled: bool) -> None:
        """Whether the user's boxes get the credentials endpoint's environment (from their
        next rebuild) or the user signs in with their own Claude subscription."""
        async with self._db.transaction() as conn:
            if not await repo.set_gateway(conn, user_id, enabled):
                raise CloudClaudeError("not_found", f"no user {user_id}")
            await audit.record(
                conn, "user.llm_gateway.changed", actor, user_id=user_id, enabled=enabled
            )

    # --- inside ---------------------------------------------------------------------------

    async def _budget(self, db: Executor, user_id: uuid.UUID, now: dt.datetime) -> BudgetState:
        start, end = month_bounds(now)
        columns = await repo.budget_columns(db, user_id)
        limit = None if columns is None else columns.monthly_token_budget
        if limit is None:
            team = self._live.current.credentials.default_monthly_tokens
            limit = team or None
        used = await repo.tokens_between(db, user_id, start, end)
        return BudgetState(limit_tokens=limit, used_tokens=used, resets_at=end)
