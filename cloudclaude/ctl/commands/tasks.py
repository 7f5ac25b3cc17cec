"""``cloudclaudectl tasks``: the durable task queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from cloudclaude.ctl.commands.common import PAGING, check_paging, print_total
from cloudclaude.ctl.registry import Request, arg, command, group, handles, text
from cloudclaude.model.views import task_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("tasks", "the durable task queue")

TASK = arg("task")
STATUSES = ["pending", "running", "succeeded", "failed", "canceled"]


def print_tasks(data: dict[str, Any]) -> None:
    print(f"{'KIND':<13} {'STATUS':<10} {'PROGRESS':>8} {'CREATED':<33} ID")
    for t in data["items"]:
        print(
            f"{t['kind']:<13} {t['status']:<10} {t['progress_percent']:>7}%"
            f" {t['created_at']:<33} {t['id']}"
        )
    print_total(data)


def print_task(data: dict[str, Any]) -> None:
    """A task's state, its error and its stage events."""
    print(
        f"task {data['id']}: {data['kind']} {data['status']}"
        f" {data['progress_percent']}% {data['progress_message'] or ''}".rstrip()
    )
    if data["error_code"]:
        print(f"error {data['error_code']}: {text(data['error_message'])}")
    for event in data.get("events", []):
        print(f"  {event['seq']:>3} {event['at']}  {event['code']:<20} {text(event['message'])}")


@command(
    "tasks.list",
    "list tasks, newest first",
    arg("--status", choices=STATUSES),
    arg("--host", help="host id or short id"),
    *PAGING,
    printer=print_tasks,
)
@attrs.frozen(kw_only=True)
class TasksList(Request):
    status: str | None = None
    host: str | None = None
    limit: int = 50
    offset: int = 0


@handles(TasksList)
async def list_tasks(request: TasksList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    host = await ctx.services.hosts.resolve(request.host) if request.host else None
    page = await ctx.services.tasks.page(
        limit=request.limit,
        offset=request.offset,
        status=request.status,
        host_id=host.id if host else None,
    )
    return {"items": [task_view(t, with_events=False) for t in page.items], "total": page.total}


@command("tasks.show", "a task with its stage events", TASK, printer=print_task)
@attrs.frozen(kw_only=True)
class TasksShow(Request):
    task: str


@handles(TasksShow)
async def show_task(request: TasksShow, ctx: Context) -> Any:
    return task_view(await ctx.services.tasks.get(request.task))


@command("tasks.cancel", "cancel a pending or running task", TASK, printer=print_task)
@attrs.frozen(kw_only=True)
class TasksCancel(Request):
    task: str


@handles(TasksCancel)
async def cancel_task(request: TasksCancel, ctx: Context) -> Any:
    return task_view(await ctx.services.tasks.cancel(ctx.actor, request.task))
