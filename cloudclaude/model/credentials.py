"""Claude Code credentials (named API keys), the key a user's requests go out with, token usage
and monthly budgets.

A ``Credential`` holds only public fields: its key stays sealed in the database and appears
here as a mask (``sk-ant-…abcd``). Only ``ResolvedKey`` carries the real key, for the forwarder,
and never shows it in its ``repr``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Literal

import attrs

CredentialKind = Literal["team", "user"]
UsageKind = Literal["team", "user", "own"]
GroupBy = Literal["day", "user", "model"]
GROUP_BYS: tuple[GroupBy, ...] = ("day", "user", "model")
#: The share of a budget past which the user is warned (page notice, one audit a month).
WARN_SHARE = 0.8


def mask_key(hint: str) -> str:
    """``sk-ant-…abcd``: how a key looks in every answer (``hint`` is its last 4 characters)."""
    return f"sk-ant-…{hint}"


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Credential:
    id: uuid.UUID
    name: str
    key_hint: str
    #: Set: a user's own key (only they use it); None: an admin's key.
    owner_user_id: uuid.UUID | None
    owner_username: str | None = None
    is_default: bool = False
    created_at: dt.datetime
    rotated_at: dt.datetime | None = None
    created_by: str = ""
    #: The users the (admin) key is assigned to, by name, sorted.
    assigned: tuple[str, ...] = attrs.field(default=(), converter=_names)

    @property
    def masked(self) -> str:
        return mask_key(self.key_hint)

    @property
    def kind(self) -> CredentialKind:
        return "team" if self.owner_user_id is None else "user"


@attrs.frozen(kw_only=True)
class ResolvedKey:
    """The key a user's box requests go out with (the forwarder's, never shown or logged)."""

    credential_id: uuid.UUID
    name: str
    #: "user" (the user's own key) or "team" (assigned to them, or the team default).
    kind: str
    secret: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UsageRow:
    """One forwarded request's figures (nothing of the prompt or the answer)."""

    user_id: uuid.UUID
    host_id: uuid.UUID | None
    credential_id: uuid.UUID | None
    #: "user" | "team" | "own" (the user's own bearer passed through).
    kind: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    status: int
    latency_ms: int


@attrs.frozen(kw_only=True)
class BudgetState:
    limit_tokens: int | None  # None: no budget
    used_tokens: int  # this calendar month (UTC), all four token kinds summed
    resets_at: dt.datetime  # first instant of next month, UTC

    @property
    def exhausted(self) -> bool:
        return self.limit_tokens is not None and self.used_tokens >= self.limit_tokens

    @property
    def share(self) -> float | None:
        """The part of the budget used (None: no budget; a 0 budget counts as all used)."""
        if self.limit_tokens is None:
            return None
        if self.limit_tokens == 0:
            return 1.0
        return self.used_tokens / self.limit_tokens

    @property
    def warning(self) -> bool:
        """At or past ``WARN_SHARE`` of the budget."""
        share = self.share
        return share is not None and share >= WARN_SHARE


@attrs.frozen(kw_only=True)
class UsageFilter:
    """Which usage rows to sum; every field set narrows them. ``until`` is exclusive."""

    user_id: uuid.UUID | None = None
    host_id: uuid.UUID | None = None
    #: By name, as the rows keep it (so a deleted user's or host's rows are found too).
    username: str | None = None
    host_short_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class UsageGroup:
    """The sums of one group: ``key`` is the day (``YYYY-MM-DD``), the username or the model.
    ``day`` and ``username`` are both set for the chart's day-by-user series."""

    key: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    errors: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens
            + self.cache_read_tokens
        )


@attrs.frozen(kw_only=True)
class DailyUserTokens:
    """One point of the chart: a user's tokens on a day (UTC)."""

    day: dt.date
    username: str
    tokens: int


@attrs.frozen(kw_only=True)
class UsageReport:
    """Sums per group, the sums of all of them, and each user's tokens per day (the chart)."""

    group_by: GroupBy
    groups: list[UsageGroup]
    totals: UsageGroup
    daily: list[DailyUserTokens]


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of ``now``'s calendar month (UTC) and of the next one."""
    now = now.astimezone(dt.UTC)
    start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return start, dt.datetime(year, month, 1, tzinfo=dt.UTC)
