"""``cloudclaudectl hosts``: users' boxes, and the tasks that start, stop or rebuild them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from cloudclaude.ctl.commands.common import HOST, PAGING, check_paging, print_queued, print_total
from cloudclaude.ctl.registry import Request, arg, cli, command, group, handles, text
from cloudclaude.errors import CloudClaudeError, state, system
from cloudclaude.model.hosts import HOST_STATUSES, Host
from cloudclaude.model.views import host_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context
    from cloudclaude.model.tasks import Task

#: How often ``hosts create --start`` looks at the create task it waits for.
CREATE_POLL_S = 0.5

group("hosts", "users' boxes")


def _exit_name(host: dict[str, Any]) -> str:
    """The host's exit label, marked when its egress is not verified."""
    label = host.get("egress_label")
    if not label:
        return "-"
    return label if host.get("egress_verified") else f"{label} (unverified)"


def _image_state(host: dict[str, Any]) -> str:
    """``outdated`` (built from an older image), ``rolling`` (rebuilt at its next stop)."""
    if host.get("roll_pending"):
        return "rolling"
    return "outdated" if host.get("image_outdated") else "current"


def print_hosts(data: dict[str, Any]) -> None:
    print(
        f"{'SHORT_ID':<10} {'OWNER':<20} {'STATUS':<9} {'DESIRED':<8} {'CPUS':>5} {'MEM_MB':>7}"
        f" {'EXIT':<24} {'IMAGE':<8} ID"
    )
    for h in data["items"]:
        print(
            f"{h['short_id']:<10} {text(h.get('owner')):<20} {h['status']:<9}"
            f" {h['desired_state']:<8} {h['cpus']:>5} {h['memory_mb']:>7} {_exit_name(h):<24}"
            f" {_image_state(h):<8} {h['id']}"
        )
    print_total(data)


async def _owners(ctx: Context, hosts: Iterable[Host]) -> dict[uuid.UUID, str]:
    """The username of each host's owner (each looked up once)."""
    names: dict[uuid.UUID, str] = {}
    for host in hosts:
        if host.user_id not in names:
            try:
                names[host.user_id] = (await ctx.services.accounts.get(host.user_id)).username
            except CloudClaudeError as exc:  # a deleted host outlives its deleted owner
                if exc.error.slug != "not_found":
                    raise
                names[host.user_id] = "(deleted)"
    return names


def _owned_view(host: Host, owner: str) -> dict[str, Any]:
    """``host_view`` with ``owner``, the owner's username, right after ``user_id``."""
    view: dict[str, Any] = {}
    for key, value in host_view(host).items():
        view[key] = value
        if key == "user_id":
            view["owner"] = owner
    return view


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
    owners = await _owners(ctx, page.items)
    items = [_owned_view(h, owners[h.user_id]) for h in page.items]
    return {"items": items, "total": page.total}


@command("hosts.show", "show a host", HOST)
@attrs.frozen(kw_only=True)
class HostsShow(Request):
    """``host`` is a host id or a short id."""

    host: str


@handles(HostsShow)
async def show_host(request: HostsShow, ctx: Context) -> Any:
    host = await ctx.services.hosts.resolve(request.host)
    active = await ctx.services.tasks.active_for(host.id)
    owner = await ctx.services.accounts.get(host.user_id)
    return {**_owned_view(host, owner.username), "active_task": str(active.id) if active else None}


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


def print_rotated(data: dict[str, Any]) -> None:
    print(f"host {data['host']}: new ssh password {data['ssh_password']}")
    print("(shown once; stored only as a hash; the old one no longer works)")


@command(
    "hosts.rotate-ssh-password",
    "give a host a new SSH password (what its entry link asks); prints it once",
    HOST,
    printer=print_rotated,
)
@attrs.frozen(kw_only=True)
class HostsRotateSshPassword(Request):
    host: str


@handles(HostsRotateSshPassword)
async def rotate_ssh_password(request: HostsRotateSshPassword, ctx: Context) -> Any:
    hosts = ctx.services.hosts
    host = await hosts.resolve(request.host)
    password = await hosts.rotate_ssh_password(ctx.actor, host.id)
    return {"host": host.short_id, "ssh_password": password}


def print_created(data: dict[str, Any]) -> None:
    """The new host, its tasks and its SSH password (shown once)."""
    label = data["egress_label"]
    exit_ = f"exit {label}" if label else "no exit (bind one before it starts)"
    print(
        f"host {data['short_id']} created for {data['owner']}: {data['cpus']:g} cpus,"
        f" {data['memory_mb']} MB, {data['disk_gb']} GB, {exit_}"
    )
    print(f"  create task {data['task_id']}")
    print(f"  ssh password {data['ssh_password']} (shown once; stored only as a hash)")
    print(f"  follow it with: cloudclaudectl tasks show {data['task_id']}")


def print_progress(event: dict[str, Any]) -> None:
    """One step of the create task ``hosts create --start`` waits for."""
    message = f" {event['progress_message']}" if event["progress_message"] else ""
    print(
        f"{event['kind']} task {event['status']} {event['progress_percent']}%{message}",
        flush=True,
    )


@command(
    "hosts.create",
    "create a host for a user (through the same rules as the admin API)",
    arg("user", field="username", help="the owner's username"),
    arg("--cpus", type=float, help="CPUs (default: hosts.cpus)"),
    arg("--memory-mb", type=int, help="memory in MB (default: hosts.memory_mb)"),
    arg("--disk-gb", type=int, help="disk in GB (default: hosts.disk_gb)"),
    arg(
        "--exit",
        metavar="EXIT",
        help="exit id or label (default: the exit labelled egress.default_exit, if set)",
    ),
    arg(
        "--start",
        action="store_true",
        help="start it once made (one task: create, then start; it goes on if this command"
        " is interrupted), following its progress",
    ),
    printer=print_created,
    events=print_progress,
)
@attrs.frozen(kw_only=True)
class HostsCreate(Request):
    username: str
    cpus: float | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    exit: str | None = None
    start: bool = False


@handles(HostsCreate)
async def create_host(request: HostsCreate, ctx: Context) -> Any:
    """``Hosts.create``, as ``POST /v1/admin/hosts`` calls it; with ``start``, the task creates
    and starts the host, and is followed here (each change an event)."""
    svc = ctx.services
    owner = await svc.accounts.get_by_username(request.username)
    given: dict[str, Any] = {
        name: value
        for name, value in (
            ("cpus", request.cpus),
            ("memory_mb", request.memory_mb),
            ("disk_gb", request.disk_gb),
        )
        if value is not None
    }
    defaults = svc.hosts.defaults
    exit_id = (await svc.exits.resolve(request.exit)).id if request.exit else None
    host, password, task = await svc.hosts.create(
        ctx.actor,
        user_id=owner.id,
        limits=attrs.evolve(defaults, **given) if given else defaults,
        egress_ip_id=exit_id,
        start=request.start,
    )
    if request.start:
        await _follow(ctx, host, task)
    return {**_owned_view(host, owner.username), "ssh_password": password, "task_id": str(task.id)}


async def _follow(ctx: Context, host: Host, task: Task) -> None:
    """Wait for the create-and-start ``task`` to end, streaming its progress."""
    tasks = ctx.services.hosts.tasks
    seen: tuple[str, int, str] | None = None
    while True:
        current = await tasks.get(str(task.id))
        now = (current.status, current.progress_percent, current.progress_message)
        if now != seen:
            seen = now
            await ctx.event(
                {
                    "task_id": str(current.id),
                    "kind": current.kind,
                    "status": current.status,
                    "progress_percent": current.progress_percent,
                    "progress_message": current.progress_message,
                }
            )
        if not current.active:
            break
        with trio.move_on_after(CREATE_POLL_S):
            await ctx.stopping.wait()
        if ctx.stopping.is_set():
            raise CloudClaudeError(
                state.START_FAILED,
                f"the daemon is stopping; host {host.short_id} was created, its task"
                f" {task.id} goes on when the daemon is back: follow it with"
                f" `cloudclaudectl tasks show {task.id}`",
            )
    if current.status != "succeeded":
        why = f" ({current.error_code}: {current.error_message})" if current.error_code else ""
        raise CloudClaudeError(
            state.START_FAILED,
            f"host {host.short_id} was made, but its create-and-start task {task.id} ended"
            f" {current.status}{why}; see `cloudclaudectl tasks show {task.id}`",
        )


def print_roll(data: dict[str, Any]) -> None:
    print(
        f"image {data['image']}: {len(data['rebuilt'])} rebuilt, {len(data['failed'])} failed,"
        f" {len(data['deferred'])} at their next stop, {len(data['skipped'])} skipped"
    )
    for name in ("failed", "deferred", "skipped"):
        if data[name]:
            print(f"  {name}: {' '.join(data[name])}")
    if data["failed"] or data["skipped"]:
        print("  run the same roll again to pick up what is left")


def print_roll_event(event: dict[str, Any]) -> None:
    if event["event"] == "plan":
        print(f"rolling {event['hosts']} host(s) to {event['image']}", flush=True)
        return
    detail = f" {event['detail']}" if event["detail"] else ""
    print(f"{event['host']}: {event['what']}{detail}", flush=True)


def _refs(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@command(
    "hosts.roll",
    "rebuild hosts built from an older box image (stopped ones now, running ones at their"
    " next stop, or now with --now); homes are kept; run again to resume",
    arg("hosts", nargs="*", metavar="HOST", help="hosts (id or short id) to roll"),
    arg("--all", field="all", action="store_true", help="every outdated host"),
    arg("--user", field="username", help="this user's outdated hosts"),
    arg("--now", action="store_true", help="rebuild running hosts now (they start again)"),
    arg("--parallel", type=int, help="rebuilds at a time (default 1)"),
    printer=print_roll,
    events=print_roll_event,
)
@attrs.frozen(kw_only=True)
class HostsRoll(Request):
    hosts: tuple[str, ...] = attrs.field(default=(), converter=_refs)
    all: bool = False
    username: str | None = None
    now: bool = False
    parallel: int | None = None


@handles(HostsRoll)
async def roll_hosts(request: HostsRoll, ctx: Context) -> Any:
    chosen = sum((bool(request.hosts), request.all, request.username is not None))
    if chosen != 1:
        raise CloudClaudeError(
            system.VALIDATION_FAILED, "name hosts, or give exactly one of --all and --user"
        )
    owner = None
    if request.username is not None:
        owner = (await ctx.services.accounts.get_by_username(request.username)).id
    # Imported here: asyncssh is for the daemon that serves the command, not the CLI.
    from cloudclaude.sshproxy.notice import box_notifier

    services = ctx.services
    result = await services.hosts.rolls.roll(
        ctx.actor,
        user_id=owner,
        refs=request.hosts,
        now=request.now,
        parallel=request.parallel or 1,
        progress=ctx.event,
        notifier=box_notifier(services.agent, services.hosts) if request.now else None,
    )
    return result.as_dict()
