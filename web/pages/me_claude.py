"""The Claude Code part of a user's page (``/me``): the key their requests go out with (masked)
or that none is assigned, their own keys when ``credentials.user_keys`` allows them, the
"use my own Claude subscription" switch, and this month's usage against their budget (with a
notice from 80% on).

The forms post here and come back to ``/me#claude`` (POST-redirect-GET); a refused change comes
back with its registry code, which the panel says in words. A key never comes back.
"""

from __future__ import annotations

import attrs
from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.core.timefmt import utcnow
from cloudclaude.errors import CloudClaudeError, by_code
from cloudclaude.model.credentials import BudgetState, Credential, UsageFilter, month_bounds
from cloudclaude.model.users import User
from web.api.common import actor, current_user, services
from web.pages.forms import form_dict
from web.pages.session import confirm_recent, page

blueprint = Blueprint("pages_me_claude", __name__, url_prefix="/me/claude")
DONE = {
    "key-added": "Key stored. Your boxes' requests use it from now on.",
    "key-rotated": "Key replaced. Your boxes' requests use the new one from now on.",
    "key-deleted": "Key deleted.",
    "gateway-on": "Your boxes use the team's keys from their next rebuild.",
    "gateway-off": "Your boxes leave Claude Code to your own subscription from their next"
    " rebuild: rebuild a box, run claude there and sign in (/login).",
}


@attrs.frozen(kw_only=True)
class ClaudePanel:
    in_effect: Credential | None
    #: "your own", "assigned to you" or "the team default".
    how: str
    own_keys: list[Credential]
    user_keys: bool
    gateway: bool
    budget: BudgetState
    month_tokens: int
    month_requests: int
    notice: str
    failed: str


async def claude_panel(user: User) -> ClaudePanel:
    """What the panel shows for ``user`` (one set of queries; no key is unsealed)."""
    svc = services()
    start, end = month_bounds(utcnow())
    month = await svc.llm_usage.report(
        UsageFilter(user_id=user.id, since=start, until=end), "model"
    )
    failed = ""
    entry = by_code(request.args.get("claude_error", ""))
    if entry is not None:
        failed = f"{entry.message} ({entry.code} {entry.slug})"
    in_effect = await svc.credentials.in_effect(user.id)
    how = ""
    if in_effect is not None:
        how = "your own" if in_effect.kind == "user" else "the team default"
        if in_effect.kind == "team" and user.username in in_effect.assigned:
            how = "assigned to you"
    return ClaudePanel(
        in_effect=in_effect,
        how=how,
        own_keys=await svc.credentials.list_keys(owner=user.id),
        user_keys=svc.credentials.user_keys,
        gateway=await svc.llm_usage.gateway_enabled(user.id),
        budget=await svc.llm_usage.budget(user.id),
        month_tokens=month.totals.total_tokens,
        month_requests=month.totals.requests,
        notice=DONE.get(request.args.get("claude", ""), ""),
        failed=failed,
    )


def _back(done: str = "", error: CloudClaudeError | None = None) -> Response:
    if error is not None:
        if error.http_status >= 500:
            raise error
        return redirect(f"/me?claude_error={error.error.code}#claude")
    return redirect(f"/me?claude={done}#claude")


@blueprint.post("/keys")
@page()
async def add_key() -> Response:
    data = await form_dict()
    try:
        services().credentials.check_user_keys()
        await confirm_recent(data)
        await services().credentials.create_own(
            actor(), current_user(), data.get("name", ""), data.get("key", "")
        )
    except CloudClaudeError as exc:
        return _back(error=exc)
    return _back("key-added")


@blueprint.post("/keys/<credential_id>/rotate")
@page()
async def rotate_key(credential_id: str) -> Response:
    data = await form_dict()
    try:
        services().credentials.check_user_keys()
        await confirm_recent(data)
        await services().credentials.rotate(
            actor(),
            parse_uuid(credential_id, "API key", "credential_not_found"),
            data.get("key", ""),
            owner=current_user().id,
        )
    except CloudClaudeError as exc:
        return _back(error=exc)
    return _back("key-rotated")


@blueprint.post("/keys/<credential_id>/delete")
@page()
async def delete_key(credential_id: str) -> Response:
    try:
        await services().credentials.delete(
            actor(),
            parse_uuid(credential_id, "API key", "credential_not_found"),
            owner=current_user().id,
        )
    except CloudClaudeError as exc:
        return _back(error=exc)
    return _back("key-deleted")


@blueprint.post("/gateway")
@page()
async def set_gateway() -> Response:
    data = await form_dict()
    enabled = data.get("own_subscription") != "on"
    await services().llm_usage.set_gateway(actor(), current_user().id, enabled)
    return _back("gateway-on" if enabled else "gateway-off")


@blueprint.get("/<path:rest>")
@page()
async def action_address(rest: str) -> Response:
    """An action's address opened (a reload, a bookmark): the page, not a 405."""
    return redirect("/me#claude")
