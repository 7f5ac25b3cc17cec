"""Admin dashboard, tasks and the audit log: what is happening, read-only."""

from __future__ import annotations

import datetime as dt
import uuid

from quart import Blueprint, request

from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HOST_STATUSES
from web.api.common import paging, services
from web.pages.render import is_htmx, render
from web.pages.session import page

blueprint = Blueprint("pages_admin_home", __name__, url_prefix="/admin")
PAGE = 25


@blueprint.get("")
@page("admin")
async def dashboard() -> str:
    db = services().db
    counts = await hosts_repo.status_counts(db)
    failing = await hosts_repo.with_status(db, ("failed", "degraded"))
    running = await tasks_repo.list_tasks(db, limit=20, offset=0, status="running")
    pending = await tasks_repo.list_tasks(db, limit=20, offset=0, status="pending")
    events = await audit_repo.list_recent(db, audit_repo.AuditFilter(), limit=10)
    return await render(
        "admin/dashboard.html",
        counts=[(status, counts.get(status, 0)) for status in HOST_STATUSES if status != "deleted"],
        failing=failing,
        tasks=[*running.items, *pending.items],
        events=events,
        users=await services().accounts.count(),
    )


@blueprint.get("/tasks")
@page("admin")
async def tasks() -> str:
    limit, offset = paging(PAGE)
    found = await tasks_repo.list_tasks(services().db, limit=limit, offset=offset)
    template = "admin/_tasks_table.html" if is_htmx() else "admin/tasks.html"
    return await render(template, page=found, limit=limit, offset=offset)


@blueprint.get("/tasks/<task_id>")
@page("admin")
async def task(task_id: str) -> str:
    found = await services().hosts.get_task(task_id)
    template = "admin/_task_live.html" if is_htmx() else "admin/task.html"
    return await render(template, task=found)


def _uuid_arg(name: str) -> uuid.UUID | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise CloudClaudeError("bad_request", f"{name} must be an id") from exc


def _time_arg(name: str) -> dt.datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CloudClaudeError("bad_request", f"{name} must be a date or date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@blueprint.get("/audit")
@page("admin")
async def audit() -> str:
    limit, offset = paging(PAGE)
    flt = audit_repo.AuditFilter(
        type=request.args.get("type", "").strip() or None,
        user_id=_uuid_arg("user_id"),
        host_id=_uuid_arg("host_id"),
        since=_time_arg("since"),
        until=_time_arg("until"),
    )
    db = services().db
    events = await audit_repo.list_recent(db, flt, limit=limit, offset=offset)
    total = await audit_repo.count(db, flt)
    return await render(
        "admin/audit.html",
        events=events,
        total=total,
        limit=limit,
        offset=offset,
        args=request.args,
    )
