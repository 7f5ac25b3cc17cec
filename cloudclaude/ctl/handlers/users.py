"""Handlers of ``users``: the same ``Accounts`` rules as the API apply."""

from __future__ import annotations

from typing import Any

from cloudclaude.core.timefmt import utcnow
from cloudclaude.ctl.commands.users import (
    UsersAdd,
    UsersDelete,
    UsersDisable,
    UsersEnable,
    UsersExpire,
    UsersList,
    UsersPasswd,
    UsersShow,
)
from cloudclaude.ctl.handlers.table import Context, check_paging, handles, when
from cloudclaude.model.views import user_view


@handles(UsersList)
async def list_users(request: UsersList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    page = await ctx.services.accounts.list_users(
        limit=request.limit, offset=request.offset, search=request.search
    )
    return {"items": [user_view(u) for u in page.items], "total": page.total}


@handles(UsersAdd)
async def add(request: UsersAdd, ctx: Context) -> Any:
    user, generated = await ctx.services.accounts.create(
        ctx.actor,
        username=request.username,
        role=request.role,
        password=request.password,
        expires_at=when(request.expires_at),
        max_hosts=request.max_hosts,
    )
    return {**user_view(user), "password": generated}


@handles(UsersShow)
async def show(request: UsersShow, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    keys = await accounts.list_keys(user.id)
    return {**user_view(user), "ssh_keys": [k.fingerprint for k in keys]}


async def _set_status(ctx: Context, username: str, status: str) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(username)
    return user_view(await accounts.update(ctx.actor, user.id, status=status))


@handles(UsersDisable)
async def disable(request: UsersDisable, ctx: Context) -> Any:
    return await _set_status(ctx, request.username, "disabled")


@handles(UsersEnable)
async def enable(request: UsersEnable, ctx: Context) -> Any:
    return await _set_status(ctx, request.username, "active")


@handles(UsersExpire)
async def expire(request: UsersExpire, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    text = request.expires_at
    at = None if text == "never" else utcnow() if text == "now" else when(text)
    return user_view(await accounts.update(ctx.actor, user.id, expires_at=at, set_expires_at=True))


@handles(UsersPasswd)
async def passwd(request: UsersPasswd, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    generated = await accounts.set_password(ctx.actor, user.id, request.password)
    return {"username": request.username, "password": generated}


@handles(UsersDelete)
async def delete(request: UsersDelete, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    await accounts.delete(ctx.actor, user.id)
    return {"deleted": request.username}
