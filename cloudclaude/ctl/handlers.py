"""What each control request does; the same ``Accounts`` rules as the API apply."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core import health
from cloudclaude.core.timefmt import parse_datetime, utcnow
from cloudclaude.ctl import messages as m
from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor, NewAuditEvent
from cloudclaude.model.hosts import HOST_STATUSES
from cloudclaude.model.views import (
    audit_view,
    binding_view,
    exit_view,
    host_view,
    task_view,
    user_view,
)

Send = Callable[[m.Reply], Awaitable[None]]
FOLLOW_POLL_S = 0.5


@attrs.frozen(kw_only=True)
class Context:
    services: Services
    actor: Actor
    stopping: trio.Event


def _check_paging(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000 or offset < 0:
        raise CloudClaudeError("validation_failed", "limit must be 1..1000, offset >= 0")


def _ok(data: Any = None) -> m.Reply:
    return m.Reply(kind="ok", data=data)


def _when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise CloudClaudeError("validation_failed", str(exc)) from exc


async def handle(request: m.Request, ctx: Context, send: Send) -> None:
    svc = ctx.services
    accounts = svc.accounts
    match request:
        case m.Status():
            database = await health.check_database(svc.db, svc.metrics)
            await send(
                _ok(
                    {
                        "version": svc.status.version,
                        "pid": svc.status.pid,
                        "uptime_s": round(svc.status.uptime_s, 1),
                        "components": dict(svc.status.components),
                        "database": database,
                        "agent": await health.check_agent(svc.agent),
                    }
                )
            )
        case m.UsersList(search=search, limit=limit, offset=offset):
            _check_paging(limit, offset)
            page = await accounts.list_users(limit=limit, offset=offset, search=search)
            await send(_ok({"items": [user_view(u) for u in page.items], "total": page.total}))
        case m.UsersAdd():
            user, generated = await accounts.create(
                ctx.actor,
                username=request.username,
                role=request.role,
                password=request.password,
                expires_at=_when(request.expires_at),
                max_hosts=request.max_hosts,
            )
            await send(_ok({**user_view(user), "password": generated}))
        case m.UsersShow(username=username):
            user = await accounts.get_by_username(username)
            keys = await accounts.list_keys(user.id)
            await send(_ok({**user_view(user), "ssh_keys": [k.fingerprint for k in keys]}))
        case m.UsersDisable(username=username) | m.UsersEnable(username=username):
            user = await accounts.get_by_username(username)
            status = "disabled" if isinstance(request, m.UsersDisable) else "active"
            await send(_ok(user_view(await accounts.update(ctx.actor, user.id, status=status))))
        case m.UsersExpire(username=username, expires_at=text):
            user = await accounts.get_by_username(username)
            when = None if text == "never" else utcnow() if text == "now" else _when(text)
            updated = await accounts.update(
                ctx.actor, user.id, expires_at=when, set_expires_at=True
            )
            await send(_ok(user_view(updated)))
        case m.UsersPasswd(username=username, password=password):
            user = await accounts.get_by_username(username)
            generated = await accounts.set_password(ctx.actor, user.id, password)
            await send(_ok({"username": username, "password": generated}))
        case m.UsersDelete(username=username):
            user = await accounts.get_by_username(username)
            await accounts.delete(ctx.actor, user.id)
            await send(_ok({"deleted": username}))
        case m.AuditTail(limit=limit, follow=follow):
            await _audit_tail(ctx, limit, follow, send)
        case m.KeysRotate():
            kid = await svc.tokens.rotate()
            await audit_repo.insert(
                svc.db,
                NewAuditEvent(
                    type="admin.signing_key.rotated", actor=ctx.actor, metadata={"kid": kid}
                ),
            )
            await send(_ok({"kid": kid, "usable": list(svc.tokens.ring.kids)}))
        case m.HostsList() | m.HostsShow() | m.HostsAction():
            await send(_ok(await _hosts(request, ctx)))
        case m.TasksList() | m.TasksShow() | m.TasksCancel():
            await send(_ok(await _tasks(request, ctx)))
        case (
            m.ExitsList()
            | m.ExitsShow()
            | m.ExitsCreate()
            | m.ExitsUpdate()
            | m.ExitsDelete()
            | m.ExitsTest()
            | m.ExitsBind()
            | m.ExitsUnbind()
        ):
            await send(_ok(await _exits(request, ctx)))
        case m.Reload():
            changes = await svc.reload()
            await send(
                _ok(
                    {"applied": list(changes.applied), "needs_restart": list(changes.needs_restart)}
                )
            )


async def _audit_tail(ctx: Context, limit: int, follow: bool, send: Send) -> None:
    if not 1 <= limit <= 1000:
        raise CloudClaudeError("validation_failed", "limit must be 1..1000")
    db = ctx.services.db
    recent = await audit_repo.list_recent(db, audit_repo.AuditFilter(), limit=limit)
    last_id = (
        recent[0].id
        if recent
        else int(await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_events"))
    )
    if not follow:
        await send(_ok({"items": [audit_view(e) for e in reversed(recent)]}))
        return
    for event in reversed(recent):
        await send(m.Reply(kind="event", data=audit_view(event)))
    while not ctx.stopping.is_set():
        for event in await audit_repo.list_after(db, last_id, limit=500):
            await send(m.Reply(kind="event", data=audit_view(event)))
            last_id = event.id
        with trio.move_on_after(FOLLOW_POLL_S):
            await ctx.stopping.wait()
    await send(_ok({"stopped": "daemon is stopping"}))


async def _hosts(request: m.HostsList | m.HostsShow | m.HostsAction, ctx: Context) -> Any:
    hosts = ctx.services.hosts
    match request:
        case m.HostsList(username=username, status=status, limit=limit, offset=offset):
            _check_paging(limit, offset)
            if status is not None and status not in HOST_STATUSES:
                raise CloudClaudeError("validation_failed", f"unknown status {status!r}")
            owner = await ctx.services.accounts.get_by_username(username) if username else None
            page = await hosts.list_hosts(
                limit=limit, offset=offset, status=status, user_id=owner.id if owner else None
            )
            return {"items": [host_view(h) for h in page.items], "total": page.total}
        case m.HostsShow(host=ref):
            host = await hosts.resolve(ref)
            active = await tasks_repo.active_for_host(ctx.services.db, host.id)
            return {**host_view(host), "active_task": str(active.id) if active else None}
        case m.HostsAction(host=ref, action=action, purge=purge):
            host = await hosts.resolve(ref)
            task = await hosts.act(ctx.actor, host.id, action, purge=purge)
            return {"host": host.short_id, "action": action, "task_id": str(task.id)}


async def _tasks(request: m.TasksList | m.TasksShow | m.TasksCancel, ctx: Context) -> Any:
    db = ctx.services.db
    match request:
        case m.TasksList(status=status, host=ref, limit=limit, offset=offset):
            _check_paging(limit, offset)
            host = await ctx.services.hosts.resolve(ref) if ref else None
            page = await tasks_repo.list_tasks(
                db, limit=limit, offset=offset, status=status, host_id=host.id if host else None
            )
            items = [task_view(t, with_events=False) for t in page.items]
            return {"items": items, "total": page.total}
        case m.TasksShow(task=ref):
            return task_view(await ctx.services.hosts.get_task(ref))
        case m.TasksCancel(task=ref):
            return task_view(await ctx.services.hosts.cancel_task(ctx.actor, ref))


async def _exits(request: m.Request, ctx: Context) -> Any:
    exits = ctx.services.exits
    match request:
        case m.ExitsList(limit=limit, offset=offset):
            _check_paging(limit, offset)
            page = await exits.list_exits(limit=limit, offset=offset)
            return {"items": [exit_view(e) for e in page.items], "total": page.total}
        case m.ExitsShow(exit=ref):
            found = await exits.resolve(ref)
            bound = await exits.list_bindings(limit=1000, offset=0, exit_id=found.id)
            return {**exit_view(found), "hosts": [b.host_short_id for b in bound.items]}
        case m.ExitsCreate(fields=fields):
            return exit_view(await exits.create(ctx.actor, fields))
        case m.ExitsUpdate(exit=ref, fields=fields):
            found = await exits.resolve(ref)
            return exit_view(await exits.patch(ctx.actor, found.id, fields))
        case m.ExitsDelete(exit=ref):
            found = await exits.resolve(ref)
            await exits.delete(ctx.actor, found.id)
            return {"deleted": found.label}
        case m.ExitsTest(exit=ref):
            found = await exits.resolve(ref)
            task = await exits.queue_test(ctx.actor, found.id)
            return {"exit": found.label, "action": "test", "task_id": str(task.id)}
        case m.ExitsBind(host=host_ref, exit=ref):
            host = await ctx.services.hosts.resolve(host_ref)
            found = await exits.resolve(ref)
            return binding_view(await exits.bind(ctx.actor, host.id, found.id))
        case m.ExitsUnbind(host=host_ref):
            host = await ctx.services.hosts.resolve(host_ref)
            binding = await exits.binding_of(host.id)
            if binding is None:
                raise CloudClaudeError("not_found", f"host {host.short_id} has no exit")
            return binding_view(await exits.unbind(ctx.actor, binding.id))
