"""``/v1/admin/tasks``, ``/v1/admin/events`` (the audit log) and ``/v1/admin/dashboard/stats``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from quart import Blueprint, request

from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import AUDIT_TYPES
from cloudclaude.model.tasks import TASK_STATUSES
from cloudclaude.model.views import audit_view, task_view
from web.api.common import actor, authenticate, page_body, paging, parse_uuid, services

blueprint = Blueprint("api_admin_tasks", __name__, url_prefix="/v1/admin")


@blueprint.before_request
async def _admins_only() -> None:
    await authenticate("admin")


@blueprint.get("/tasks")
async def list_tasks() -> dict[str, Any]:
    limit, offset = paging()
    status = request.args.get("status") or None
    if status is not None and status not in TASK_STATUSES:
        raise CloudClaudeError("bad_request", f"status must be one of {', '.join(TASK_STATUSES)}")
    host_id = request.args.get("host_id")
    page = await tasks_repo.list_tasks(
        services().db,
        limit=limit,
        offset=offset,
        status=status,
        host_id=parse_uuid(host_id, "host") if host_id else None,
    )
    return page_body(
        [task_view(t, with_events=False) for t in page.items], page.total, limit, offset
    )


@blueprint.get("/tasks/<task_id>")
async def show_task(task_id: str) -> dict[str, Any]:
    return task_view(await services().hosts.get_task(task_id))


@blueprint.post("/tasks/<task_id>/cancel")
async def cancel_task(task_id: str) -> dict[str, Any]:
    return task_view(await services().hosts.cancel_task(actor(), task_id))


def _time(name: str) -> dt.datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CloudClaudeError("bad_request", f"{name} must be an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@blueprint.get("/events")
async def list_events() -> dict[str, Any]:
    limit, offset = paging(max_limit=200)
    kind = request.args.get("type") or None
    if kind is not None and kind not in AUDIT_TYPES:
        raise CloudClaudeError("bad_request", f"unknown event type {kind!r}")
    user_id, host_id = request.args.get("user_id"), request.args.get("host_id")
    where = audit_repo.AuditFilter(
        type=kind,
        user_id=parse_uuid(user_id, "user") if user_id else None,
        host_id=parse_uuid(host_id, "host") if host_id else None,
        since=_time("since"),
        until=_time("until"),
    )
    db = services().db
    items = await audit_repo.list_recent(db, where, limit=limit, offset=offset)
    return page_body(
        [audit_view(e) for e in items], await audit_repo.count(db, where), limit, offset
    )


@blueprint.get("/dashboard/stats")
async def dashboard_stats() -> dict[str, Any]:
    db = services().db
    return {
        "hosts_by_status": await hosts_repo.status_counts(db),
        "tasks_by_status": await tasks_repo.status_counts(db),
        "users": await users_repo.count(db),
    }
