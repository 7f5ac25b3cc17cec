"""The daemon itself: ``status``, ``reload``, ``keys rotate`` and ``audit tail``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

from cloudclaude.core.printable import escape_controls
from cloudclaude.ctl.registry import Request, arg, command, group, handles, text
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.views import audit_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

FOLLOW_POLL_S = 0.5


def print_status(data: dict[str, Any]) -> None:
    print(f"cloudclaude {data['version']}  pid {data['pid']}  up {data['uptime_s']:.0f}s")
    for name, state in data["components"].items():
        print(f"  {name:<10} {state}")
    db = data["database"]
    why = "" if db["status"] == "ok" else f": {text(db.get('detail'))}"
    print(f"  {'database':<10} {db['status']} ({text(db.get('latency_ms'))} ms){why}")
    agent = data["agent"]
    if agent["status"] == "ok":
        about = (
            f"{agent['mode']}, version {text(agent.get('version'))}"
            f" ({text(agent.get('latency_ms'))} ms)"
        )
    else:
        about = f"{agent['mode']}: {text(agent.get('detail'))}"
    print(f"  {'agent':<10} {agent['status']} {about}")


@command("status", "components, database, agent, version, uptime", printer=print_status)
@attrs.frozen(kw_only=True)
class Status(Request):
    pass


@handles(Status)
async def status(request: Status, ctx: Context) -> Any:
    from cloudclaude.core import health  # the daemon's: it reaches the database

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


def print_reload(data: dict[str, Any]) -> None:
    print("applied: " + (", ".join(data["applied"]) or "nothing"))
    if data["needs_restart"]:
        print("need a restart: " + ", ".join(data["needs_restart"]))


@command("reload", "re-read the settings (like SIGHUP)", printer=print_reload)
@attrs.frozen(kw_only=True)
class Reload(Request):
    pass


@handles(Reload)
async def reload(request: Reload, ctx: Context) -> Any:
    changes = await ctx.services.reload()
    return {"applied": list(changes.applied), "needs_restart": list(changes.needs_restart)}


group("keys", "token signing keys")


def print_rotated(data: dict[str, Any]) -> None:
    print(f"new signing key {data['kid']}; usable keys: {', '.join(data['usable'])}")


@command(
    "keys.rotate",
    "make a new signing key; tokens of older keys stay valid until they expire",
    printer=print_rotated,
)
@attrs.frozen(kw_only=True)
class KeysRotate(Request):
    pass


@handles(KeysRotate)
async def rotate_keys(request: KeysRotate, ctx: Context) -> Any:
    tokens = ctx.services.tokens
    kid = await tokens.rotate()
    await ctx.services.audit.record("admin.signing_key.rotated", ctx.actor, kid=kid)
    return {"kid": kid, "usable": list(tokens.ring.kids)}


group("audit", "read the audit log")


def print_event(event: dict[str, Any]) -> None:
    """One line per event; metadata (a failed sign-in's username) may come from anyone, so
    control characters are escaped and cannot drive the admin's terminal."""
    meta = text(event["metadata"]) if event["metadata"] else ""
    line = f"{event['at']}  {event['type']:<28} {event['actor']:<22} {meta}"
    print(escape_controls(line), flush=True)


def print_events(data: dict[str, Any]) -> None:
    for event in data.get("items", []):
        print_event(event)


@command(
    "audit.tail",
    "the latest audit events",
    arg("-n", "--limit", type=int, default=20),
    arg("-f", "--follow", action="store_true", help="keep printing new events"),
    printer=print_events,
    events=print_event,
)
@attrs.frozen(kw_only=True)
class AuditTail(Request):
    """The latest ``limit`` events; with ``follow``, then each new one as an event reply."""

    limit: int = 20
    follow: bool = False


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
