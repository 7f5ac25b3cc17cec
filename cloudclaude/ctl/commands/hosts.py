"""``cloudclaudectl hosts``: users' boxes, and the tasks that start, stop or rebuild them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs

from cloudclaude.ctl.commands.common import HOST, PAGING, check_paging, print_queued, print_total
from cloudclaude.ctl.registry import Request, arg, cli, command, group, handles
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.hosts import HOST_STATUSES
from cloudclaude.model.views import host_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("hosts", "users' boxes")


def _exit_name(host: dict[str, Any]) -> str:
    """The host's exit label, marked when its egress is not verified."""
    label = host.get("egress_label")
    if not label:
        return "-"
    return label if host.get("egress_verified") else f"{label} (unverified)"


def print_hosts(data: dict[str, Any]) -> None:
    print(
        f"{'SHORT_ID':<10} {'STATUS':<9} {'DESIRED':<8} {'CPUS':>5} {'MEM_MB':>7} {'EXIT':<24} ID"
    )
    for h in data["items"]:
        print(
            f"{h['short_id']:<10} {h['status']:<9} {h['desired_state']:<8}"
            f" {h['cpus']:>5} {h['memory_mb']:>7} {_exit_name(h):<24} {h['id']}"
        )
    print_total(data)


@command(
    "hosts.list",
    "list hosts",
    arg("--user", field="username", help="only this user's hosts"),
    arg("--status", help="only hosts in this status"),
    *PAGING,
    printer=print_hosts,
)
@attrs.frozen(kw_only=True)
class HostsList(Request):
    username: str | None = None
    status: str | None = None
    limit: int = 50
    offset: int = 0


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


@command("hosts.show", "show a host", HOST)
@attrs.frozen(kw_only=True)
class HostsShow(Request):
    """``host`` is a host id or a short id."""

    host: str


@handles(HostsShow)
async def show_host(request: HostsShow, ctx: Context) -> Any:
    host = await ctx.services.hosts.resolve(request.host)
    active = await ctx.services.tasks.active_for(host.id)
    return {**host_view(host), "active_task": str(active.id) if active else None}


@command(
    "hosts.action",
    cli=(
        cli("hosts start", "queue a start", HOST, action="start"),
        cli("hosts stop", "queue a stop", HOST, action="stop"),
        cli(
            "hosts rebuild",
            "queue a rebuild (new container, home volume kept)",
            HOST,
            action="rebuild",
        ),
        cli(
            "hosts delete",
            "queue a delete",
            HOST,
            arg("--purge", action="store_true", help="also delete the home volume"),
            action="delete",
        ),
        cli(
            "hosts verify-egress",
            "queue a new verification of a running host's exit",
            HOST,
            action="verify_egress",
        ),
    ),
    printer=print_queued,
)
@attrs.frozen(kw_only=True)
class HostsAction(Request):
    host: str
    action: Literal["start", "stop", "rebuild", "delete", "verify_egress"]
    purge: bool = False


@handles(HostsAction)
async def act(request: HostsAction, ctx: Context) -> Any:
    hosts = ctx.services.hosts
    host = await hosts.resolve(request.host)
    task = await hosts.act(ctx.actor, host.id, request.action, purge=request.purge)
    return {"host": host.short_id, "action": request.action, "task_id": str(task.id)}
