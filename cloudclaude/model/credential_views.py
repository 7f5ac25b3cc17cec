"""JSON shapes of API keys, usage sums and budgets, shared by the API and the control socket.

A key is only ever its mask here (``sk-ant-…abcd``).
"""

from __future__ import annotations

from typing import Any

from cloudclaude.core.timefmt import iso
from cloudclaude.model.credentials import BudgetState, Credential, UsageGroup, UsageReport


def credential_view(found: Credential) -> dict[str, Any]:
    return {
        "id": str(found.id),
        "name": found.name,
        "key": found.masked,
        "kind": found.kind,
        "owner": found.owner_username,
        "is_default": found.is_default,
        "assigned": list(found.assigned),
        "created_at": iso(found.created_at),
        "rotated_at": iso(found.rotated_at),
        "created_by": found.created_by,
    }


def in_effect_view(found: Credential | None) -> dict[str, Any] | None:
    """The key a user's requests go out with, for the user (no other user's names)."""
    if found is None:
        return None
    return {
        "id": str(found.id),
        "name": found.name,
        "key": found.masked,
        "kind": found.kind,
        "is_default": found.is_default,
    }


def budget_view(state: BudgetState) -> dict[str, Any]:
    limit = state.limit_tokens
    return {
        "limit_tokens": limit,
        "used_tokens": state.used_tokens,
        "remaining_tokens": None if limit is None else max(0, limit - state.used_tokens),
        "share": None if state.share is None else round(state.share, 4),
        "warning": state.warning,
        "exhausted": state.exhausted,
        "resets_at": iso(state.resets_at),
    }


def usage_group_view(group: UsageGroup) -> dict[str, Any]:
    return {
        "key": group.key,
        "requests": group.requests,
        "errors": group.errors,
        "input_tokens": group.input_tokens,
        "output_tokens": group.output_tokens,
        "cache_creation_tokens": group.cache_creation_tokens,
        "cache_read_tokens": group.cache_read_tokens,
        "total_tokens": group.total_tokens,
    }


def usage_view(report: UsageReport, budget: BudgetState | None) -> dict[str, Any]:
    """Sums per group (``key`` is the day, username or model), all of them, and the budget of
    the one user asked about (None: no single user)."""
    return {
        "group_by": report.group_by,
        "items": [usage_group_view(g) for g in report.groups],
        "totals": usage_group_view(report.totals),
        "budget": None if budget is None else budget_view(budget),
    }
