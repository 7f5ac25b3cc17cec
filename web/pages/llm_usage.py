"""The usage pages: tokens of the forwarded Claude Code requests, a chart of daily tokens by
user (server-rendered SVG) and a table summed per day, user or model, with filters.

``/admin/usage`` shows everyone's (and sets a user's monthly budget); ``/me/usage`` the
signed-in user's own, with their budget. Filters are words: a username, a host's short id, ISO
dates; the window defaults to the last 30 days (UTC).
"""

from __future__ import annotations

import datetime as dt

import attrs
from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.timefmt import utcnow
from cloudclaude.domain.llm_usage import parse_filter, parse_group_by
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.credentials import BudgetState, UsageFilter
from web.api.common import actor, current_user, services
from web.pages.bar_chart import daily_bars, short_tokens
from web.pages.forms import form_dict
from web.pages.render import render
from web.pages.session import page

blueprint = Blueprint("pages_llm_usage", __name__)
DEFAULT_DAYS = 30


def window(where: UsageFilter, today: dt.date) -> UsageFilter:
    """``where`` with the default window filled in: the last ``DEFAULT_DAYS`` days to today."""
    since = where.since
    if since is None:
        since = dt.datetime.combine(today - dt.timedelta(days=DEFAULT_DAYS - 1), dt.time(), dt.UTC)
    return attrs.evolve(where, since=since)


def chart_days(where: UsageFilter, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day the chart spans (``until`` is exclusive)."""
    assert where.since is not None
    start = where.since.astimezone(dt.UTC).date()
    end = today if where.until is None else (where.until - dt.timedelta(microseconds=1)).date()
    return start, max(start, end)


async def _usage_page(
    *, own: bool, status: int = 200, errors: dict[str, str] | None = None
) -> tuple[str, int]:
    svc = services()
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    user = current_user()
    today = utcnow().date()
    problem = ""
    try:
        where = parse_filter(
            user=str(user.id) if own else args.get("user"),
            host=args.get("host"),
            since=args.get("from"),
            until=args.get("to"),
        )
        group_by = parse_group_by(args.get("group_by"))
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        problem = f"{exc.detail or exc.error.message} ({exc.error.code})"
        where, group_by = parse_filter(user=str(user.id) if own else None), "day"
        status = exc.http_status
    where = window(where, today)
    report = await svc.llm_usage.report(where, group_by)
    start, end = chart_days(where, today)
    who = "your" if own else ("everyone's" if not args.get("user") else f"{args['user']}'s")
    chart, series = daily_bars(
        report.daily, start=start, end=end, label=f"Daily tokens, {who}, {start} to {end}"
    )
    budget: BudgetState | None = None
    if own:
        budget = await svc.llm_usage.budget(user.id)
    elif where.username is not None:
        budget = await _budget_of(where.username)
    html = await render(
        "usage/usage.html",
        own=own,
        args=args,
        report=report,
        chart=chart,
        series=series,
        start=start,
        end=end,
        budget=budget,
        problem=problem,
        errors=errors or {},
        short_tokens=short_tokens,
        notice="Budget saved." if request.args.get("done") == "budget" else "",
    )
    return html, status


async def _budget_of(username: str) -> BudgetState | None:
    svc = services()
    try:
        found = await svc.accounts.get_by_username(username)
    except CloudClaudeError:
        return None  # a deleted user's rows
    return await svc.llm_usage.budget(found.id)


@blueprint.get("/admin/usage")
@page("admin")
async def admin_usage() -> tuple[str, int]:
    return await _usage_page(own=False)


@blueprint.get("/me/usage")
@page()
async def my_usage() -> tuple[str, int]:
    return await _usage_page(own=True)


def budget_tokens(text: str) -> int | None:
    """The budget form's value: a whole number (``1,000,000`` too), or empty for the team's."""
    cleaned = text.replace(",", "").replace("_", "").strip()
    if not cleaned or cleaned.lower() in ("none", "default"):
        return None
    try:
        return int(cleaned)
    except ValueError as exc:
        raise CloudClaudeError(
            "validation_failed", "monthly_tokens: a whole number, or empty for the team default"
        ) from exc


@blueprint.post("/admin/usage/budget")
@page("admin")
async def set_budget() -> tuple[str, int] | Response:
    data = await form_dict()
    svc = services()
    try:
        found = await svc.accounts.get_by_username(data.get("username", ""))
        await svc.llm_usage.set_budget(
            actor(), found.id, budget_tokens(data.get("monthly_tokens", ""))
        )
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        field = "username" if exc.error.slug == "not_found" else "monthly_tokens"
        message = f"{exc.detail or exc.error.message} ({exc.error.code})"
        return await _usage_page(own=False, status=exc.http_status, errors={field: message})
    return redirect(f"/admin/usage?user={found.username}&done=budget")
