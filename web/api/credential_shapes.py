"""The JSON answers of the API-key, usage and budget routes as attrs classes: what
``cloudclaude.model.credential_views`` writes (see ``web.api.shapes`` for the others)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import attrs

from cloudclaude.model.credentials import GroupBy


@attrs.frozen(kw_only=True)
class CredentialOut:
    id: uuid.UUID
    name: str
    #: The key's mask, ``sk-ant-…abcd`` (the key itself is never answered).
    key: str
    #: ``team``: an admin's key; ``user``: a user's own key.
    kind: Literal["team", "user"]
    #: The user whose own key it is (null for an admin's key).
    owner: str | None
    is_default: bool
    #: The users it is assigned to, by name.
    assigned: list[str]
    created_at: dt.datetime
    rotated_at: dt.datetime | None
    created_by: str


@attrs.frozen(kw_only=True)
class CredentialList:
    items: list[CredentialOut]


@attrs.frozen(kw_only=True)
class KeyInEffect:
    id: uuid.UUID
    name: str
    key: str
    kind: Literal["team", "user"]
    is_default: bool


@attrs.frozen(kw_only=True)
class OwnCredentials:
    """The caller's own keys, whether they may add them, and the key their requests use."""

    items: list[CredentialOut]
    user_keys: bool
    in_effect: KeyInEffect | None
    llm_gateway: bool


@attrs.frozen(kw_only=True)
class BudgetOut:
    #: Null: no budget.
    limit_tokens: int | None
    #: This calendar month (UTC), all four token kinds.
    used_tokens: int
    remaining_tokens: int | None
    share: float | None
    #: At or past 80% of the budget.
    warning: bool
    exhausted: bool
    #: The first instant of next month (UTC).
    resets_at: dt.datetime


@attrs.frozen(kw_only=True)
class UsageGroupOut:
    #: The day (YYYY-MM-DD, UTC), the username or the model.
    key: str
    requests: int
    #: Requests answered with a status of 400 or more.
    errors: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    total_tokens: int


@attrs.frozen(kw_only=True)
class UsageOut:
    group_by: GroupBy
    items: list[UsageGroupOut]
    totals: UsageGroupOut
    #: The budget of the one user asked about (null when the rows are of several users).
    budget: BudgetOut | None


@attrs.frozen(kw_only=True)
class GatewayOut:
    #: False: the user's boxes get no gateway environment (own Claude subscription), from
    #: their next rebuild.
    enabled: bool


@attrs.frozen(kw_only=True)
class UserBudgetOut:
    #: The user's own budget (null: the team default applies).
    monthly_tokens: int | None
    budget: BudgetOut
