"""Handlers of ``tasks``: the durable task queue, through ``HostTasks``."""

from __future__ import annotations

from typing import Any

from cloudclaude.ctl.commands.tasks import TasksCancel, TasksList, TasksShow
from cloudclaude.ctl.handlers.table import Context, check_paging, handles
from cloudclaude.model.views import task_view


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


@handles(TasksShow)
async def show_task(request: TasksShow, ctx: Context) -> Any:
    return task_view(await ctx.services.tasks.get(request.task))


@handles(TasksCancel)
async def cancel_task(request: TasksCancel, ctx: Context) -> Any:
    return task_view(await ctx.services.tasks.cancel(ctx.actor, request.task))
