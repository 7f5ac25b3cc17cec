"""``cloudclaudectl users``: user accounts, under the same ``Accounts`` rules as the API."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import attrs

from cloudclaude.core.timefmt import utcnow
from cloudclaude.ctl.commands.common import PAGING, check_paging, print_total, when
from cloudclaude.ctl.registry import Request, arg, command, group, handles
from cloudclaude.model.views import exit_choice_view, task_view, user_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("users", "manage user accounts")

NAME = arg("name", field="username")


def _read_password(wanted: bool) -> str | None:
    """One line of standard input when ``--password-stdin`` is given."""
    return sys.stdin.readline().rstrip("\r\n") if wanted else None


PASSWORD_STDIN = arg(
    "--password-stdin",
    field="password",
    convert=_read_password,
    action="store_true",
    help="read the password from standard input instead of generating one",
)


def print_users(data: dict[str, Any]) -> None:
    print(f"{'USERNAME':<24} {'ROLE':<6} {'STATUS':<9} {'EXPIRES':<26} MAX_HOSTS")
    for u in data["items"]:
        print(
            f"{u['username']:<24} {u['role']:<6} {u['status']:<9}"
            f" {u['expires_at'] or '-':<26} {u['max_hosts']}"
        )
    print_total(data)


def print_password(data: dict[str, Any]) -> None:
    """A generated password is shown here once; otherwise just that it is done."""
    name = data.get("username")
    if data.get("password"):
        print(f"{name}: password {data['password']}")
        print("(shown once; it is stored only as a hash)")
    else:
        print(f"{name}: done")


@command(
    "users.list",
    "list users",
    arg("--search", help="substring of the username"),
    *PAGING,
    printer=print_users,
)
@attrs.frozen(kw_only=True)
class UsersList(Request):
    search: str | None = None
    limit: int = 50
    offset: int = 0


@handles(UsersList)
async def list_users(request: UsersList, ctx: Context) -> Any:
    check_paging(request.limit, request.offset)
    page = await ctx.services.accounts.list_users(
        limit=request.limit, offset=request.offset, search=request.search
    )
    return {"items": [user_view(u) for u in page.items], "total": page.total}


@command(
    "users.add",
    "create a user (prints a generated password)",
    NAME,
    arg("--role", choices=["admin", "user"], default="user"),
    arg(
        "--expires",
        field="expires_at",
        metavar="DATE",
        help="ISO date or date-time (UTC if no zone)",
    ),
    arg("--max-hosts", type=int, default=1),
    PASSWORD_STDIN,
    printer=print_password,
)
@attrs.frozen(kw_only=True)
class UsersAdd(Request):
    username: str
    role: str = "user"
    password: str | None = None
    expires_at: str | None = None
    max_hosts: int = 1


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


@command("users.show", "show a user", NAME)
@attrs.frozen(kw_only=True)
class UsersShow(Request):
    username: str


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


@command("users.disable", "disable a user", NAME)
@attrs.frozen(kw_only=True)
class UsersDisable(Request):
    username: str


@handles(UsersDisable)
async def disable(request: UsersDisable, ctx: Context) -> Any:
    return await _set_status(ctx, request.username, "disabled")


@command("users.enable", "enable a user", NAME)
@attrs.frozen(kw_only=True)
class UsersEnable(Request):
    username: str


@handles(UsersEnable)
async def enable(request: UsersEnable, ctx: Context) -> Any:
    return await _set_status(ctx, request.username, "active")


def print_deleted(data: dict[str, Any]) -> None:
    """The user is gone, or which of their hosts' delete tasks are still running."""
    if data["deleted"]:
        print(f"{data['username']}: deleted")
        return
    print(f"{data['username']}: not deleted yet; their hosts' delete tasks:")
    for task in data["tasks"]:
        print(f"  {task['id']} {task['status']} {task['error_code'] or ''}".rstrip())
    print("  run the same command again once they have ended")


@command(
    "users.delete",
    "delete a user",
    NAME,
    arg(
        "--with-hosts",
        action="store_true",
        help="delete the user's hosts first (as delete tasks), then the user",
    ),
    arg(
        "--wait",
        field="wait_s",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="with --with-hosts: how long to wait for the hosts' delete tasks (default: 120)",
    ),
    printer=print_deleted,
)
@attrs.frozen(kw_only=True)
class UsersDelete(Request):
    username: str
    with_hosts: bool = False
    wait_s: float = 120.0


@handles(UsersDelete)
async def delete(request: UsersDelete, ctx: Context) -> Any:
    user = await ctx.services.accounts.get_by_username(request.username)
    done = await ctx.services.user_deletion.delete(
        ctx.actor,
        user.id,
        with_hosts=request.with_hosts,
        wait_s=request.wait_s if request.with_hosts else 0.0,
    )
    return {
        "username": done.username,
        "deleted": done.deleted,
        "tasks": [task_view(t, with_events=False) for t in done.tasks],
    }


@command(
    "users.expire",
    "set or clear a user's expiry",
    NAME,
    arg(
        "--at",
        field="expires_at",
        default="now",
        metavar="DATE|now|never",
        help="when the account expires (default: now)",
    ),
)
@attrs.frozen(kw_only=True)
class UsersExpire(Request):
    """Set the expiry: an ISO date or date-time, ``now``, or ``never`` to clear it."""

    username: str
    expires_at: str = "now"


@handles(UsersExpire)
async def expire(request: UsersExpire, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    text = request.expires_at
    at = None if text == "never" else utcnow() if text == "now" else when(text)
    return user_view(await accounts.update(ctx.actor, user.id, expires_at=at, set_expires_at=True))


@command(
    "users.passwd",
    "set or generate a user's password",
    NAME,
    PASSWORD_STDIN,
    printer=print_password,
)
@attrs.frozen(kw_only=True)
class UsersPasswd(Request):
    username: str
    password: str | None = None


@handles(UsersPasswd)
async def passwd(request: UsersPasswd, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    generated = await accounts.set_password(ctx.actor, user.id, request.password)
    return {"username": request.username, "password": generated}


@command(
    "users.sign-out",
    "end every session of a user (tokens, page cookies, live streams, terminals, SSH)",
    NAME,
)
@attrs.frozen(kw_only=True)
class UsersSignOut(Request):
    username: str


@handles(UsersSignOut)
async def sign_out(request: UsersSignOut, ctx: Context) -> Any:
    accounts = ctx.services.accounts
    user = await accounts.get_by_username(request.username)
    await accounts.sessions.end_every(ctx.actor, user)
    return {"signed_out": request.username}


def _exits_tuple(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def print_exits(data: dict[str, Any]) -> None:
    labels = [f"{e['label']} ({e['kind']})" for e in data["exits"]]
    print(f"{data['username']} may choose: {', '.join(labels) or '-'}")


@command(
    "users.exits",
    "show, or with EXIT… (or --clear) set, the exits a user may choose for their own boxes"
    " besides egress.default_exit",
    NAME,
    arg("exits", nargs="*", metavar="EXIT", help="exit ids or labels"),
    arg("--clear", action="store_true", help="allow no exit but the default one"),
    printer=print_exits,
)
@attrs.frozen(kw_only=True)
class UsersExits(Request):
    username: str
    exits: tuple[str, ...] = attrs.field(default=(), converter=_exits_tuple)
    clear: bool = False


@handles(UsersExits)
async def user_exits(request: UsersExits, ctx: Context) -> Any:
    svc = ctx.services
    user = await svc.accounts.get_by_username(request.username)
    if request.exits or request.clear:
        found = await svc.self_service.set_allowed_exits(ctx.actor, user.id, list(request.exits))
    else:
        found = await svc.self_service.allowed_exits(user.id)
    return {"username": user.username, "exits": [exit_choice_view(e) for e in found]}
