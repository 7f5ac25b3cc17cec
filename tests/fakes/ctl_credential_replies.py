"""Sample replies of the ``credentials``, ``usage`` and ``users budget|gateway`` commands,
built by the daemon's own views, for ``tests/unit/test_ctl_printers.py``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.model.credential_views import budget_view, credential_view, usage_view
from cloudclaude.model.credentials import BudgetState, Credential, UsageGroup, UsageReport

AT = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_GROUP = UsageGroup(
    key="2030-01-02",
    requests=0,
    input_tokens=0,
    output_tokens=0,
    cache_creation_tokens=0,
    cache_read_tokens=0,
)
USAGE = UsageReport(group_by="day", groups=[_GROUP], totals=_GROUP, daily=[])
NO_BUDGET = BudgetState(limit_tokens=None, used_tokens=0, resets_at=AT)
SPENT = BudgetState(limit_tokens=5, used_tokens=7, resets_at=AT)
CREDENTIALS = [
    credential_view(
        Credential(
            id=uuid.UUID(int=7), name="team", key_hint="abcd", owner_user_id=None, created_at=AT
        )
    ),
    credential_view(
        Credential(
            id=uuid.UUID(int=8),
            name="bob/mine",
            key_hint="wxyz",
            owner_user_id=uuid.UUID(int=9),
            owner_username="bob",
            is_default=False,
            created_at=AT,
            rotated_at=AT,
            assigned=("bob",),
        )
    ),
]

CREDENTIAL_REPLIES: dict[str, tuple[list[Any], list[Any]]] = {
    "credentials.list": ([{"items": CREDENTIALS}, {"items": []}], []),
    "credentials.create": (CREDENTIALS, []),
    "credentials.rotate": (CREDENTIALS, []),
    "credentials.assign": (CREDENTIALS, []),
    "credentials.delete": ([{"deleted": "team"}], []),
    "usage": (
        [
            usage_view(USAGE, None),
            usage_view(USAGE, BudgetState(limit_tokens=None, used_tokens=0, resets_at=AT)),
            usage_view(USAGE, BudgetState(limit_tokens=10, used_tokens=9, resets_at=AT)),
            usage_view(attrs.evolve(USAGE, groups=[]), None),
        ],
        [],
    ),
    "users.budget": (
        [
            {"username": "bob", "monthly_tokens": None, "budget": budget_view(NO_BUDGET)},
            {"username": "bob", "monthly_tokens": 5, "budget": budget_view(SPENT)},
        ],
        [],
    ),
    "users.gateway": ([{"username": "bob", "llm_gateway": False}], []),
}
