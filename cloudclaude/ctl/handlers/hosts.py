"""Handlers of ``hosts``: users' boxes, and queueing the tasks that act on them."""

from __future__ import annotations

from typing import Any

from cloudclaude.ctl.commands.hosts import HostsAction, HostsList, HostsShow
from cloudclaude.ctl.handlers.table import Context, check_paging, handles
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.hosts import HOST_STATUSES
from cloudclaude.model.views import host_view


@handles(HostsList)
async def list_hosts(request: HostsList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    status = request.status
    if status is not None and status not in HOST_STATUSES:
        raise CloudClaudeError(system.VALIDATION_FAILED, f"unknown status {status!r}")
    accounts = ctx.services.accounts
    owner = await accounts.get_by_username(request.username) if request.username else None
    page = await ctx.services.hosts.list_hosts(
        limit=request.limit,
        offset=request.offset,
        status=status,
        user_id=owner.id if owner else None,
    )
    return {"items": [host_view(h) for h in page.items], "total": page.total}


@handles(HostsShow)
async def show_host(request: HostsShow, ctx: Context) -> Any:
    host = await ctx.services.hosts.resolve(request.host)
    active = await ctx.services.tasks.active_for(host.id)
    return {**host_view(host), "active_task": str(active.id) if active else None}


@handles(HostsAction)
async def act(request: HostsAction, ctx: Context) -> Any:
    hosts = ctx.services.hosts
    host = await hosts.resolve(request.host)
    task = await hosts.act(ctx.actor, host.id, request.action, purge=request.purge)
    return {"host": host.short_id, "action": request.action, "task_id": str(task.id)}
