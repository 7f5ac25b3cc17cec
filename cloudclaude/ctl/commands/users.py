"""``cloudclaudectl users``: user accounts, under the same ``Accounts`` rules as the API."""

from __future__ import annotations

import sys
from typing import Any

import attrs

from cloudclaude.ctl.commands.common import PAGING, print_total
from cloudclaude.ctl.registry import Request, arg, command, group

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


@command("users.show", "show a user", NAME)
@attrs.frozen(kw_only=True)
class UsersShow(Request):
    username: str


@command("users.disable", "disable a user", NAME)
@attrs.frozen(kw_only=True)
class UsersDisable(Request):
    username: str


@command("users.enable", "enable a user", NAME)
@attrs.frozen(kw_only=True)
class UsersEnable(Request):
    username: str


@command("users.delete", "delete a user", NAME)
@attrs.frozen(kw_only=True)
class UsersDelete(Request):
    username: str


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
