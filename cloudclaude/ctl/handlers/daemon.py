"""Handlers of ``status``, ``reload``, ``keys rotate`` and ``audit tail``."""

from __future__ import annotations

from typing import Any

import trio

from cloudclaude.core import health
from cloudclaude.ctl.commands.daemon import AuditTail, KeysRotate, Reload, Status
from cloudclaude.ctl.handlers.table import Context, handles
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.views import audit_view

FOLLOW_POLL_S = 0.5


@handles(Status)
async def status(request: Status, ctx: Context) -> Any:
    svc = ctx.services
    database = await health.check_database(svc.db, svc.metrics)
    return {
        "version": svc.status.version,
        "pid": svc.status.pid,
        "uptime_s": round(svc.status.uptime_s, 1),
        "components": dict(svc.status.components),
        "database": database,
        "agent": await health.check_agent(svc.agent),
    }


@handles(Reload)
async def reload(request: Reload, ctx: Context) -> Any:
    changes = await ctx.services.reload()
    return {"applied": list(changes.applied), "needs_restart": list(changes.needs_restart)}


@handles(KeysRotate)
async def rotate_keys(request: KeysRotate, ctx: Context) -> Any:
    tokens = ctx.services.tokens
    kid = await tokens.rotate()
    await ctx.services.audit.record("admin.signing_key.rotated", ctx.actor, kid=kid)
    return {"kid": kid, "usable": list(tokens.ring.kids)}


@handles(AuditTail)
async def audit_tail(request: AuditTail, ctx: Context) -> Any:
    """The latest events; with ``follow``, each as an event, then new ones until shutdown."""
    if not 1 <= request.limit <= 1000:
        raise CloudClaudeError(system.VALIDATION_FAILED, "limit must be 1..1000")
    audit = ctx.services.audit
    recent = await audit.recent(request.limit)
    last_id = recent[0].id if recent else await audit.last_id()
    if not request.follow:
        return {"items": [audit_view(e) for e in reversed(recent)]}
    for event in reversed(recent):
        await ctx.event(audit_view(event))
    while not ctx.stopping.is_set():
        for event in await audit.after(last_id):
            await ctx.event(audit_view(event))
            last_id = event.id
        with trio.move_on_after(FOLLOW_POLL_S):
            await ctx.stopping.wait()
    return {"stopped": "daemon is stopping"}
