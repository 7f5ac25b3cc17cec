"""``cloudclaudectl credentials``, ``usage`` and ``users budget|gateway``: Claude Code's API
keys, the tokens they carried, and each user's monthly budget.

A key is read from standard input (a prompt when it is a terminal) or ``--key-file``, never
from the command line, so it stays out of the process list and shell history; every reply
shows its mask only (``sk-ant-…abcd``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from cloudclaude.ctl.registry import (
    Request,
    UsageError,
    arg,
    command,
    group,
    handles,
    print_fields,
    text,
)
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.credential_views import budget_view, credential_view, usage_view

if TYPE_CHECKING:
    from cloudclaude.ctl.server import Context

group("credentials", "Claude Code's API keys (sealed; shown masked)")

NAME = arg("name", help="the key's name (or id)")
USERNAME = arg("username", help="the user's name")


@attrs.frozen(eq=False)
class KeyInput:
    """The ``key`` field, from ``--key-file`` or standard input (never an argument)."""

    names: tuple[str, ...] = ("key",)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--key-file", metavar="FILE", help="read the key from FILE (default: standard input)"
        )

    def fields(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"key": read_key(args.key_file)}


def read_key(path: str | None) -> str:
    """The key in ``path``, or typed at a prompt, or piped in; surrounding blanks dropped."""
    try:
        if path and path != "-":
            raw = Path(path).read_text()
        elif sys.stdin.isatty():
            raw = getpass.getpass("API key: ")
        else:
            raw = sys.stdin.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--key-file {path}: {exc}") from exc
    key = raw.strip()
    if not key:
        raise UsageError("no key given: pipe it in or name a file with --key-file")
    return key


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def print_credentials(data: dict[str, Any]) -> None:
    print(f"{'NAME':<28} {'KEY':<16} {'DEFAULT':<7} {'OWNER':<12} ASSIGNED")
    for c in data["items"]:
        print(
            f"{c['name']:<28} {c['key']:<16} {text(c['is_default']):<7}"
            f" {text(c['owner']):<12} {text(c['assigned'])}"
        )
    print(f"({len(data['items'])} keys)")


def print_credential(data: dict[str, Any]) -> None:
    print_fields({k: v for k, v in data.items() if k != "id"})
    print(f"id: {data['id']}")


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_budget(budget: dict[str, Any] | None, prefix: str = "budget") -> None:
    if budget is None:
        return
    if budget["limit_tokens"] is None:
        print(f"{prefix}: none ({_tokens(budget['used_tokens'])} tokens used this month)")
        return
    state = " EXHAUSTED" if budget["exhausted"] else " (80% reached)" if budget["warning"] else ""
    print(
        f"{prefix}: {_tokens(budget['used_tokens'])} of {_tokens(budget['limit_tokens'])} tokens"
        f" this month{state}; resets {budget['resets_at'][:10]}"
    )


def print_usage(data: dict[str, Any]) -> None:
    title = data["group_by"].upper()
    print(
        f"{title:<28} {'REQUESTS':>8} {'ERRORS':>6} {'INPUT':>12} {'OUTPUT':>12}"
        f" {'CACHE_WRITE':>12} {'CACHE_READ':>12} {'TOTAL':>13}"
    )
    for g in [*data["items"], {**data["totals"], "key": "(all)"}]:
        print(
            f"{g['key'] or '-':<28} {g['requests']:>8} {g['errors']:>6}"
            f" {_tokens(g['input_tokens']):>12} {_tokens(g['output_tokens']):>12}"
            f" {_tokens(g['cache_creation_tokens']):>12} {_tokens(g['cache_read_tokens']):>12}"
            f" {_tokens(g['total_tokens']):>13}"
        )
    print_budget(data["budget"])


def print_user_budget(data: dict[str, Any]) -> None:
    own = data["monthly_tokens"]
    print(f"{data['username']}: budget {'team default' if own is None else _tokens(own)}")
    print_budget(data["budget"], "  now")


@command("credentials.list", "list the API keys (masked)", printer=print_credentials)
@attrs.frozen(kw_only=True)
class CredentialsList(Request):
    pass


@handles(CredentialsList)
async def list_credentials(request: CredentialsList, ctx: Context) -> Any:
    keys = await ctx.services.credentials.list_keys()
    return {"items": [credential_view(c) for c in keys]}


@command(
    "credentials.create",
    "store an API key (read from standard input or --key-file)",
    NAME,
    KeyInput(),
    arg("--default", action="store_true", help="make it the team default"),
    arg("--assign", nargs="+", default=[], metavar="USER", help="users whose key it is"),
    printer=print_credential,
)
@attrs.frozen(kw_only=True)
class CredentialsCreate(Request):
    name: str
    key: str = attrs.field(repr=False)
    default: bool = False
    assign: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@handles(CredentialsCreate)
async def create(request: CredentialsCreate, ctx: Context) -> Any:
    created = await ctx.services.credentials.create(
        ctx.actor,
        request.name,
        request.key,
        default=request.default,
        assign=list(request.assign),
    )
    return credential_view(created)


@command(
    "credentials.rotate",
    "replace an API key (read from standard input or --key-file)",
    NAME,
    KeyInput(),
    printer=print_credential,
)
@attrs.frozen(kw_only=True)
class CredentialsRotate(Request):
    name: str
    key: str = attrs.field(repr=False)


@handles(CredentialsRotate)
async def rotate(request: CredentialsRotate, ctx: Context) -> Any:
    creds = ctx.services.credentials
    found = await creds.resolve(request.name)
    return credential_view(await creds.rotate(ctx.actor, found.id, request.key))


@command(
    "credentials.assign",
    "set a key's users and whether it is the team default",
    NAME,
    arg("--users", nargs="*", default=None, metavar="USER", help="its whole list of users"),
    arg("--default", action=argparse.BooleanOptionalAction, default=None, help="team default"),
    printer=print_credential,
)
@attrs.frozen(kw_only=True)
class CredentialsAssign(Request):
    """``users`` None leaves them; ``default`` None leaves it."""

    name: str
    users: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    default: bool | None = None


@handles(CredentialsAssign)
async def assign(request: CredentialsAssign, ctx: Context) -> Any:
    creds = ctx.services.credentials
    found = await creds.resolve(request.name)
    users = None if request.users is None else list(request.users)
    return credential_view(await creds.assign(ctx.actor, found.id, users, request.default))


@command("credentials.delete", "delete an API key (its users fall back)", NAME)
@attrs.frozen(kw_only=True)
class CredentialsDelete(Request):
    name: str


@handles(CredentialsDelete)
async def delete(request: CredentialsDelete, ctx: Context) -> Any:
    creds = ctx.services.credentials
    found = await creds.resolve(request.name)
    await creds.delete(ctx.actor, found.id)
    return {"deleted": found.name}


@command(
    "usage",
    "tokens of the Claude Code requests, summed per day, user or model",
    arg("--user", help="a username"),
    arg("--host", help="a host's short id"),
    arg("--from", dest="since", metavar="DATE", help="from this ISO date or time"),
    arg("--to", dest="until", metavar="DATE", help="to this time, or to the end of this date"),
    arg("--group-by", choices=("day", "user", "model"), default="day"),
    printer=print_usage,
)
@attrs.frozen(kw_only=True)
class Usage(Request):
    user: str | None = None
    host: str | None = None
    since: str | None = None
    until: str | None = None
    group_by: str = "day"


@handles(Usage)
async def usage(request: Usage, ctx: Context) -> Any:
    from cloudclaude.domain.llm_usage import parse_filter, parse_group_by

    svc = ctx.services
    where = parse_filter(
        user=request.user, host=request.host, since=request.since, until=request.until
    )
    report = await svc.llm_usage.report(where, parse_group_by(request.group_by))
    budget = None
    if request.user:
        user = await svc.accounts.get_by_username(request.user)
        budget = await svc.llm_usage.budget(user.id)
    return usage_view(report, budget)


def parse_tokens(value: str) -> int | None:
    """``TOKENS`` of ``users budget``: a whole number (``1_000_000`` and ``1,000,000`` too)
    or ``none``."""
    if value.strip().lower() == "none":
        return None
    try:
        return int(value.replace(",", "").replace("_", ""))
    except ValueError as exc:
        raise CloudClaudeError(
            "validation_failed", f"TOKENS is a whole number or 'none', not {value[:32]!r}"
        ) from exc


@command(
    "users.budget",
    "set a user's monthly token budget ('none': the team default)",
    USERNAME,
    arg("tokens", metavar="TOKENS|none", help="tokens a month, or 'none'"),
    printer=print_user_budget,
)
@attrs.frozen(kw_only=True)
class UsersBudget(Request):
    username: str
    tokens: str


@handles(UsersBudget)
async def set_budget(request: UsersBudget, ctx: Context) -> Any:
    svc = ctx.services
    user = await svc.accounts.get_by_username(request.username)
    tokens = parse_tokens(request.tokens)
    state = await svc.llm_usage.set_budget(ctx.actor, user.id, tokens)
    return {
        "username": user.username,
        "monthly_tokens": tokens,
        "budget": budget_view(state),
    }


@command(
    "users.gateway",
    "let a user's boxes use the team's API keys (--off: their own Claude subscription);"
    " applies from each box's next rebuild",
    USERNAME,
    arg("--off", action="store_true", help="the user signs in with their own subscription"),
)
@attrs.frozen(kw_only=True)
class UsersGateway(Request):
    username: str
    off: bool = False


@handles(UsersGateway)
async def set_gateway(request: UsersGateway, ctx: Context) -> Any:
    svc = ctx.services
    user = await svc.accounts.get_by_username(request.username)
    await svc.llm_usage.set_gateway(ctx.actor, user.id, not request.off)
    return {"username": user.username, "llm_gateway": not request.off}
