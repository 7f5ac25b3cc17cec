"""Admin dashboard, tasks and the audit log: what is happening, read-only."""

from __future__ import annotations

import datetime as dt
import uuid

from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.core.timefmt import parse_when
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import AuditFilter
from cloudclaude.model.hosts import HOST_STATUSES
from web.api.common import paging, services
from web.pages.names import look_up
from web.pages.render import is_htmx, render
from web.pages.session import page
from web.pages.usage import box_rows, server_use

blueprint = Blueprint("pages_admin_home", __name__, url_prefix="/admin")
PAGE = 25
#: Running boxes listed on the dashboard (the totals count them all).
BOX_ROWS = 50


@blueprint.get("")
@page("admin")
async def dashboard() -> str:
    svc = services()
    counts = await svc.hosts.status_counts()
    failing = await svc.hosts.with_status("failed", "degraded")
    running = await svc.tasks.page(limit=20, offset=0, status="running")
    pending = await svc.tasks.page(limit=20, offset=0, status="pending")
    events = await svc.audit.recent(10)
    in_flight = [*running.items, *pending.items]
    boxes = await svc.hosts.running_hosts()
    names = await look_up(  # one query per kind for every row on the page
        user_ids=[
            *(h.user_id for h in failing),
            *(e.user_id for e in events),
            *(h.user_id for h in boxes[:BOX_ROWS]),
        ],
        host_ids=[*(t.host_id for t in in_flight), *(e.host_id for e in events)],
    )
    backup = svc.live.current.backup
    return await render(
        "admin/dashboard.html",
        counts=[(status, counts.get(status, 0)) for status in HOST_STATUSES if status != "deleted"],
        failing=failing,
        tasks=in_flight,
        events=events,
        names=names,
        boxes=box_rows(boxes[:BOX_ROWS], svc.usage),
        more_boxes=max(0, len(boxes) - BOX_ROWS),
        use=await server_use(svc.usage, boxes),
        users=await services().accounts.count(),
        backups=await svc.backups.recent(5),
        image_build=await svc.hosts.rolls.last_build(),
        backup_schedule=backup.schedule,
        backup_keep=backup.keep,
    )


@blueprint.get("/tasks")
@page("admin")
async def tasks() -> str:
    limit, offset = paging(PAGE)
    found = await services().tasks.page(limit=limit, offset=offset)
    names = await look_up(
        user_ids=[t.requested_by for t in found.items], host_ids=[t.host_id for t in found.items]
    )
    template = "admin/_tasks_table.html" if is_htmx() else "admin/tasks.html"
    return await render(template, page=found, limit=limit, offset=offset, names=names)


@blueprint.get("/tasks/<task_id>")
@page("admin")
async def task(task_id: str) -> str:
    found = await services().hosts.tasks.get(task_id)
    names = await look_up(user_ids=[found.requested_by], host_ids=[found.host_id])
    template = "admin/_task_live.html" if is_htmx() else "admin/task.html"
    return await render(template, task=found, names=names)


def _uuid_arg(name: str) -> uuid.UUID | None:
    value = request.args.get(name, "").strip()
    return parse_uuid(value, name, "bad_query") if value else None


async def _user_arg() -> uuid.UUID | None:
    """``?user=`` a username or an id (``?user_id=`` an id, as links give it)."""
    value = (request.args.get("user") or "").strip()
    if not value:
        return _uuid_arg("user_id")
    if _looks_like_uuid(value):
        return uuid.UUID(value)
    try:
        return (await services().accounts.get_by_username(value)).id
    except CloudClaudeError as exc:
        raise CloudClaudeError("bad_query", f"user: no user {value[:64]!r}") from exc


async def _host_arg() -> uuid.UUID | None:
    """``?host=`` a short id or an id (``?host_id=`` an id, as links give it)."""
    value = (request.args.get("host") or "").strip()
    if not value:
        return _uuid_arg("host_id")
    try:
        return (await services().hosts.resolve(value)).id
    except CloudClaudeError as exc:
        raise CloudClaudeError("bad_query", f"host: no host {value[:64]!r}") from exc


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _time_arg(name: str) -> dt.datetime | None:
    value = request.args.get(name, "").strip()
    return parse_when(value, name, slug="bad_query") if value else None


@blueprint.get("/audit")
@page("admin")
async def audit() -> str:
    limit, offset = paging(PAGE)
    flt = AuditFilter(
        type=request.args.get("type", "").strip() or None,
        user_id=await _user_arg(),
        host_id=await _host_arg(),
        since=_time_arg("since"),
        until=_time_arg("until"),
    )
    found = await services().audit.page(flt, limit=limit, offset=offset)
    names = await look_up(
        user_ids=[e.user_id for e in found.items], host_ids=[e.host_id for e in found.items]
    )
    return await render(
        "admin/audit.html",
        events=found.items,
        names=names,
        total=found.total,
        limit=limit,
        offset=offset,
        args=request.args,
    )
