"""``cloudclaudectl hosts``: users' boxes, and the tasks that start, stop or rebuild them."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from cloudclaude.ctl.commands.common import HOST, PAGING, print_queued, print_total
from cloudclaude.ctl.registry import Request, arg, cli, command, group

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


@command("hosts.show", "show a host", HOST)
@attrs.frozen(kw_only=True)
class HostsShow(Request):
    """``host`` is a host id or a short id."""

    host: str


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
