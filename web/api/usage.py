"""``/v1/admin/usage``, ``/v1/user/usage``: tokens of the forwarded Claude Code requests, summed
per day, user or model; and the per-user settings that go with them (monthly budget, gateway).

``?user=`` takes a username (or id), ``?host=`` a host's short id (or id); ``from`` and ``to``
(also spelled ``since`` and ``until``) are ISO 8601 dates or times, a bare ``to`` date
including that day. A user sees only their own rows, with their budget.
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.llm_usage import parse_filter, parse_group_by
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.credential_views import budget_view, usage_view
from cloudclaude.model.credentials import GroupBy
from web.api.common import actor, authenticate, read_body, services
from web.api.contract import documented
from web.api.credential_shapes import GatewayOut, UsageOut, UserBudgetOut
from web.api.user_credentials import GatewayBody

blueprint = Blueprint("api_usage", __name__, url_prefix="/v1")


@attrs.frozen(kw_only=True)
class UsageQuery:
    #: A username or user id (admins only).
    user: str | None = None
    #: A host's short id or id.
    host: str | None = None
    #: From this ISO 8601 date or time on (``from`` is accepted too).
    since: str | None = None
    #: Up to this time (exclusive) or to the end of this date (``to`` is accepted too).
    until: str | None = None
    group_by: GroupBy = "day"


@attrs.frozen(kw_only=True)
class BudgetBody:
    #: Tokens a month (all four kinds), or null for the team default
    #: (``credentials.default_monthly_tokens``).
    monthly_tokens: int | None


def _arg(*names: str) -> str | None:
    for name in names:
        value = request.args.get(name)
        if value:
            return value
    return None


async def _usage(*, user: str | None) -> dict[str, Any]:
    svc = services()
    where = parse_filter(
        user=user,
        host=_arg("host"),
        since=_arg("from", "since"),
        until=_arg("to", "until"),
    )
    report = await svc.llm_usage.report(where, parse_group_by(_arg("group_by")))
    budget = None
    if where.user_id is not None:
        budget = await svc.llm_usage.budget(where.user_id)
    elif where.username is not None:
        with contextlib.suppress(CloudClaudeError):  # a deleted user's rows: no budget
            found = await svc.accounts.get_by_username(where.username)
            budget = await svc.llm_usage.budget(found.id)
    return usage_view(report, budget)


@blueprint.get("/admin/usage")
@documented(auth="admin", query=UsageQuery, answers={200: UsageOut})
async def admin_usage() -> dict[str, Any]:
    await authenticate("admin")
    return await _usage(user=_arg("user"))


@blueprint.get("/user/usage")
@documented(auth="user", query=UsageQuery, answers={200: UsageOut})
async def user_usage() -> dict[str, Any]:
    user = await authenticate()
    if _arg("user") not in (None, user.username, str(user.id)):
        raise CloudClaudeError("forbidden", "you see only your own usage")
    return await _usage(user=str(user.id))


@blueprint.put("/admin/users/<user_id>/budget")
@documented(auth="admin", body=BudgetBody, answers={200: UserBudgetOut}, errors=("not_found",))
async def set_budget(user_id: str) -> dict[str, Any]:
    await authenticate("admin")
    body = await read_body(BudgetBody)
    target = parse_uuid(user_id, "user")
    state = await services().llm_usage.set_budget(actor(), target, body.monthly_tokens)
    return {"monthly_tokens": body.monthly_tokens, "budget": budget_view(state)}


@blueprint.put("/admin/users/<user_id>/llm-gateway")
@documented(auth="admin", body=GatewayBody, answers={200: GatewayOut}, errors=("not_found",))
async def set_user_gateway(user_id: str) -> dict[str, Any]:
    await authenticate("admin")
    body = await read_body(GatewayBody)
    await services().llm_usage.set_gateway(actor(), parse_uuid(user_id, "user"), body.enabled)
    return {"enabled": body.enabled}
