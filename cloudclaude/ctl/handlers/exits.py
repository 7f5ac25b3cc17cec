"""Handlers of ``exits``: exits and host bindings, under the same ``Exits`` rules as the API."""

from __future__ import annotations

from typing import Any

from cloudclaude.ctl.commands.exits import (
    ExitsBind,
    ExitsCreate,
    ExitsDelete,
    ExitsList,
    ExitsShow,
    ExitsTest,
    ExitsUnbind,
    ExitsUpdate,
)
from cloudclaude.ctl.handlers.table import Context, check_paging, handles
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.views import binding_view, exit_view


@handles(ExitsList)
async def list_exits(request: ExitsList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    page = await ctx.services.exits.list_exits(limit=request.limit, offset=request.offset)
    return {"items": [exit_view(e) for e in page.items], "total": page.total}


@handles(ExitsShow)
async def show(request: ExitsShow, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    bound = await exits.list_bindings(limit=1000, offset=0, exit_id=found.id)
    return {**exit_view(found), "hosts": [b.host_short_id for b in bound.items]}


@handles(ExitsCreate)
async def create(request: ExitsCreate, ctx: Context) -> Any:
    return exit_view(await ctx.services.exits.create(ctx.actor, request.fields))


@handles(ExitsUpdate)
async def update(request: ExitsUpdate, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    return exit_view(await exits.patch(ctx.actor, found.id, request.fields))


@handles(ExitsDelete)
async def delete(request: ExitsDelete, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    await exits.delete(ctx.actor, found.id)
    return {"deleted": found.label}


@handles(ExitsTest)
async def queue_test(request: ExitsTest, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    task = await exits.queue_test(ctx.actor, found.id)
    return {"exit": found.label, "action": "test", "task_id": str(task.id)}


@handles(ExitsBind)
async def bind(request: ExitsBind, ctx: Context) -> Any:
    host = await ctx.services.hosts.resolve(request.host)
    found = await ctx.services.exits.resolve(request.exit)
    return binding_view(await ctx.services.exits.bind(ctx.actor, host.id, found.id))


@handles(ExitsUnbind)
async def unbind(request: ExitsUnbind, ctx: Context) -> Any:
    exits = ctx.services.exits
    host = await ctx.services.hosts.resolve(request.host)
    binding = await exits.binding_of(host.id)
    if binding is None:
        raise CloudClaudeError(state.NOT_FOUND, f"host {host.short_id} has no exit")
    return binding_view(await exits.unbind(ctx.actor, binding.id))
