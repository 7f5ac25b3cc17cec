"""``/v1/admin/tasks``, ``/v1/admin/events`` (the audit log) and ``/v1/admin/dashboard/stats``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.core.timefmt import parse_when
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import AUDIT_TYPES, AuditFilter
from cloudclaude.model.tasks import TaskStatus
from cloudclaude.model.views import audit_view, task_view
from web.api.common import actor, authenticate, page_body, paging, services
from web.api.contract import documented, requires
from web.api.queries import PageQuery
from web.api.shapes import AuditOut, DashboardStats, Page, TaskOut, TaskSummary

blueprint = Blueprint("api_admin_tasks", __name__, url_prefix="/v1/admin")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


@attrs.frozen(kw_only=True)
class TaskQuery(PageQuery):
    status: TaskStatus | None = None
    host_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class EventQuery(PageQuery):
    #: An audit event type.
    type: str | None = None
    user_id: uuid.UUID | None = None
    host_id: uuid.UUID | None = None
    #: An ISO 8601 date or time.
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@blueprint.get("/tasks")
@documented(query=TaskQuery, answers={200: Page[TaskSummary]})
async def list_tasks() -> dict[str, Any]:
    limit, offset = paging()
    host_id = request.args.get("host_id")
    page = await services().tasks.page(
        limit=limit,
        offset=offset,
        status=request.args.get("status") or None,
        host_id=parse_uuid(host_id, "host") if host_id else None,
    )
    return page_body(
        [task_view(t, with_events=False) for t in page.items], page.total, limit, offset
    )


@blueprint.get("/tasks/<task_id>")
@documented(answers={200: TaskOut})
async def show_task(task_id: str) -> dict[str, Any]:
    return task_view(await services().hosts.tasks.get(task_id))


@blueprint.post("/tasks/<task_id>/cancel")
@documented(answers={200: TaskOut}, errors=("conflict",))
async def cancel_task(task_id: str) -> dict[str, Any]:
    return task_view(await services().hosts.tasks.cancel(actor(), task_id))


def _time(name: str) -> dt.datetime | None:
    value = request.args.get(name)
    return parse_when(value, name, slug="bad_query") if value else None


@blueprint.get("/events")
@documented(query=EventQuery, answers={200: Page[AuditOut]})
async def list_events() -> dict[str, Any]:
    limit, offset = paging(max_limit=200)
    kind = request.args.get("type") or None
    if kind is not None and kind not in AUDIT_TYPES:
        raise CloudClaudeError("bad_query", f"unknown event type {kind!r}")
    user_id, host_id = request.args.get("user_id"), request.args.get("host_id")
    where = AuditFilter(
        type=kind,
        user_id=parse_uuid(user_id, "user") if user_id else None,
        host_id=parse_uuid(host_id, "host") if host_id else None,
        since=_time("since"),
        until=_time("until"),
    )
    found = await services().audit.page(where, limit=limit, offset=offset)
    return page_body([audit_view(e) for e in found.items], found.total, limit, offset)


@blueprint.get("/dashboard/stats")
@documented(answers={200: DashboardStats})
async def dashboard_stats() -> dict[str, Any]:
    svc = services()
    return {
        "hosts_by_status": await svc.hosts.status_counts(),
        "tasks_by_status": await svc.tasks.status_counts(),
        "users": await svc.accounts.count(),
    }
