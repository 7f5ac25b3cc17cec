"""``cloudclaudectl exits``: exits (egress IPs) and which host leaves through which."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from cloudclaude.ctl.commands.common import (
    HOST,
    PAGING,
    check_paging,
    print_queued,
    print_total,
    short_time,
)
from cloudclaude.ctl.exit_args import ExitFields
from cloudclaude.ctl.registry import Request, arg, command, group, handles, print_fields, text
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.views import binding_view, exit_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("exits", "exits (egress IPs) and host bindings")

EXIT = arg("exit", help="exit id or label")


def last_check(e: dict[str, Any]) -> str:
    """The exit's last verification: its result and when (``never`` before the first).

    ``status`` and ``last_verified_at`` are what the last check (``exits test``, or a bound
    host's start) found; ``egress_verified`` only says whether a host start checks the exit
    at all (it has a verify URL or DNS name), so it is shown apart, as ``CHECKED_AT_START``.
    """
    if e["status"] == "unverified" or not e["last_verified_at"]:
        return "never"
    return f"{e['status']} {short_time(e['last_verified_at'])}"


def print_exits(data: dict[str, Any]) -> None:
    print(
        f"{'LABEL':<20} {'KIND':<11} {'SERVER':<22} {'EXPECTED_IP':<15} {'LAST_CHECK':<24}"
        f" {'AT_START':<8} {'HOSTS':>5} ID"
    )
    for e in data["items"]:
        server = f"{e['server']}:{e['port']}" if e["server"] else "-"
        print(
            f"{e['label']:<20} {e['kind']:<11} {server:<22} {text(e['expected_ip']):<15}"
            f" {last_check(e):<24} {text(e['egress_verified']):<8} {e['bound_hosts']:>5}"
            f" {e['id']}"
        )
    print_total(data)


def print_exit(data: dict[str, Any]) -> None:
    """One exit: its fields, then its last check and whether host starts check it."""
    shown = {"egress_verified", "status", "last_verified_at", "detected_ip"}
    print_fields({k: v for k, v in data.items() if k not in shown})
    seen = f" (seen {data['detected_ip']})" if data.get("detected_ip") else ""
    print(f"last_check: {last_check(data)}{seen}")
    print(f"checked_at_start: {text(data['egress_verified'])}")


def print_bound(data: dict[str, Any]) -> None:
    print(f"{data['host_short_id']}: exit {data['egress_label']} (binding {data['id']})")


def print_unbound(data: dict[str, Any]) -> None:
    print(f"{data['host_short_id']}: exit {data['egress_label']} removed")


@command("exits.list", "list exits", *PAGING, printer=print_exits)
@attrs.frozen(kw_only=True)
class ExitsList(Request):
    limit: int = 50
    offset: int = 0


@handles(ExitsList)
async def list_exits(request: ExitsList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    page = await ctx.services.exits.list_exits(limit=request.limit, offset=request.offset)
    return {"items": [exit_view(e) for e in page.items], "total": page.total}


@command("exits.show", "an exit and its hosts", EXIT, printer=print_exit)
@attrs.frozen(kw_only=True)
class ExitsShow(Request):
    """``exit`` is an exit id or label."""

    exit: str


@handles(ExitsShow)
async def show(request: ExitsShow, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    bound = await exits.list_bindings(limit=1000, offset=0, exit_id=found.id)
    return {**exit_view(found), "hosts": [b.host_short_id for b in bound.items]}


@command(
    "exits.create",
    "create an exit (secrets are masked)",
    ExitFields(arg("label", field=None, nargs="?", help="the exit's label (or give it in --file)")),
    printer=print_exit,
)
@attrs.frozen(kw_only=True)
class ExitsCreate(Request):
    """``fields``: the exit as the API takes it (checked per kind by the daemon)."""

    fields: dict[str, Any]


@handles(ExitsCreate)
async def create(request: ExitsCreate, ctx: Context) -> Any:
    return exit_view(await ctx.services.exits.create(ctx.actor, request.fields))


@command(
    "exits.update",
    "change the given fields of an exit",
    EXIT,
    ExitFields(arg("--label", field=None, help="a new label")),
    printer=print_exit,
)
@attrs.frozen(kw_only=True)
class ExitsUpdate(Request):
    """Change only the given ``fields`` (``null`` clears one; a new kind starts afresh)."""

    exit: str
    fields: dict[str, Any]


@handles(ExitsUpdate)
async def update(request: ExitsUpdate, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    return exit_view(await exits.patch(ctx.actor, found.id, request.fields))


@command("exits.delete", "delete an exit no host uses", EXIT)
@attrs.frozen(kw_only=True)
class ExitsDelete(Request):
    exit: str


@handles(ExitsDelete)
async def delete(request: ExitsDelete, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    await exits.delete(ctx.actor, found.id)
    return {"deleted": found.label}


@command(
    "exits.test", "queue a test of an exit from a throwaway namespace", EXIT, printer=print_queued
)
@attrs.frozen(kw_only=True)
class ExitsTest(Request):
    exit: str


@handles(ExitsTest)
async def queue_test(request: ExitsTest, ctx: Context) -> Any:
    exits = ctx.services.exits
    found = await exits.resolve(request.exit)
    task = await exits.queue_test(ctx.actor, found.id)
    return {"exit": found.label, "action": "test", "task_id": str(task.id)}


@command("exits.bind", "give a host (not running) its exit", HOST, EXIT, printer=print_bound)
@attrs.frozen(kw_only=True)
class ExitsBind(Request):
    host: str
    exit: str


@handles(ExitsBind)
async def bind(request: ExitsBind, ctx: Context) -> Any:
    host = await ctx.services.hosts.resolve(request.host)
    found = await ctx.services.exits.resolve(request.exit)
    return binding_view(await ctx.services.exits.bind(ctx.actor, host.id, found.id))


@command("exits.unbind", "remove a host's exit (not while it runs)", HOST, printer=print_unbound)
@attrs.frozen(kw_only=True)
class ExitsUnbind(Request):
    host: str


@handles(ExitsUnbind)
async def unbind(request: ExitsUnbind, ctx: Context) -> Any:
    exits = ctx.services.exits
    host = await ctx.services.hosts.resolve(request.host)
    binding = await exits.binding_of(host.id)
    if binding is None:
        raise CloudClaudeError(state.NOT_FOUND, f"host {host.short_id} has no exit")
    return binding_view(await exits.unbind(ctx.actor, binding.id))
