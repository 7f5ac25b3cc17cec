"""What every JSON endpoint shares: reading bodies, the signed-in user, paging, serialising."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import math
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import attrs
import cattrs
from quart import current_app, g, request

from cloudclaude.app.wiring import Services
from cloudclaude.core.codec import strict_converter
from cloudclaude.domain.sessions import FULL, SignedIn
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.sessions import Scope
from cloudclaude.model.users import User
from web.api.contract import requires
from web.forwarded import via_proxy

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

converter = strict_converter()


def services() -> Services:
    svc: Services = current_app.extensions["cloudclaude"]
    return svc


def _refuse_constant(name: str) -> Any:
    """Python's json reads ``NaN`` and ``Infinity``; JSON has neither, and no field wants them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError(f"{text} is out of range")
    return value


def finite_number(text: str, name: str) -> float:
    """A number from a query string or form; NaN and infinities would slip through every
    range check (all comparisons with NaN are false), so they are a 400 here."""
    try:
        value = float(text)
    except ValueError as exc:
        raise CloudClaudeError("bad_query", f"{name} must be a number") from exc
    if not math.isfinite(value):
        raise CloudClaudeError("bad_query", f"{name} must be a finite number")
    return value


async def read_json() -> dict[str, Any]:
    raw = await request.get_data(as_text=False)
    if not raw:
        raise CloudClaudeError("bad_request", "the request needs a JSON object body")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_json_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CloudClaudeError("bad_request", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CloudClaudeError("bad_request", "the body must be a JSON object")
    return data


#: What a JSON value of a field's type looks like, in words a caller knows (not Python's).
_PLAIN_TYPES: dict[object, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    dt.datetime: "an ISO 8601 date or time such as 2030-12-31 or 2030-12-31T18:00:00Z",
    dt.date: "an ISO 8601 date such as 2030-12-31",
    uuid.UUID: "an id (a UUID)",
    type(None): "null",
}


def plain_type(kind: object) -> str:
    """``kind`` described for an API caller: ``dt.datetime | None`` is "an ISO 8601 date or
    time such as … or null", never ``datetime`` or ``NoneType``."""
    if kind in _PLAIN_TYPES:
        return _PLAIN_TYPES[kind]
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(plain_type(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in args)
    if origin in (list, tuple, set, frozenset) and args:
        return f"a list, each {plain_type(args[0])}"
    if origin in (list, tuple, set, frozenset) or kind in (list, tuple, set, frozenset):
        return "a list"
    if origin is dict or kind is dict or (isinstance(kind, type) and attrs.has(kind)):
        return "a JSON object"
    return "a valid value"


def _problem(exc: BaseException, kind: type | None) -> str:
    """One field's failure in words (cattrs' default names Python types)."""
    if isinstance(exc, KeyError):
        return "is required"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"has unknown fields: {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, ValueError | TypeError) and kind is not None:
        return f"must be {plain_type(kind)}"
    if isinstance(exc, AttributeError):
        return "must be a JSON object"
    return "is not valid"


def _problems(exc: BaseException) -> list[str]:
    if not isinstance(exc, cattrs.BaseValidationError):
        return [str(exc)]
    found = []
    for line in cattrs.transform_error(exc, path="body", format_exception=_problem):
        problem, _, path = line.rpartition(" @ ")
        field = path.removeprefix("body.") if path != "body" else "the body"
        found.append(f"{field} {problem}")
    return found


def structure(data: dict[str, Any], cls: type[T]) -> T:
    """``data`` as ``cls``; every bad field is named in one 422 ("expires_at must be an ISO
    8601 date or time …"), in words, never in Python type names."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise CloudClaudeError("validation_failed", "; ".join(_problems(exc))) from exc


async def read_body(cls: type[T]) -> T:
    return structure(await read_json(), cls)


#: The largest ``offset``: Postgres takes a bigint; a larger one was a 500 (found by schemathesis).
MAX_OFFSET = 2**31 - 1


def paging(default_limit: int = 50, max_limit: int = 200) -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", default_limit))
        offset = int(request.args.get("offset", 0))
    except ValueError as exc:
        raise CloudClaudeError("bad_query", "limit and offset must be whole numbers") from exc
    if not 1 <= limit <= max_limit or not 0 <= offset <= MAX_OFFSET:
        raise CloudClaudeError(
            "bad_query", f"limit must be 1..{max_limit} and offset 0..{MAX_OFFSET}"
        )
    return limit, offset


def page_body(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The one shape of every paged list: ``{items, total, limit, offset}``."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CloudClaudeError("auth_required")
    return token.strip()


async def authenticate(role: str | None = None, allowed: frozenset[Scope] = FULL) -> User:
    """Check the bearer token, its session (of a scope in ``allowed``) and the role, and
    remember the user and session for this request."""
    signed_in = await services().accounts.sessions.authenticate(_bearer(), allowed)
    user = signed_in.user
    if role is not None and user.role != role:
        raise CloudClaudeError("forbidden")
    g.user = user
    g.signed_in = signed_in
    return user


def signed_in(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Any signed-in user may call the wrapped endpoint."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        await authenticate()
        return await fn(*args, **kwargs)

    return requires("user")(wrapper)


def current_user() -> User:
    user: User = g.user
    return user


def current_session() -> SignedIn:
    """The session the request authenticated with (API token or page cookie)."""
    signed_in: SignedIn = g.signed_in
    return signed_in


async def confirm_recent_auth(password: str | None) -> None:
    """A sensitive change: the caller's ``password``, or a recent sign-in of this session."""
    await services().accounts.sessions.confirm_recent(actor(), current_session(), password)


@attrs.frozen(kw_only=True)
class ConfirmBody:
    #: The caller's own password (recent-auth), unless they signed in a moment ago.
    current_password: str | None = None


async def confirm_from_body() -> None:
    """``confirm_recent_auth`` with the optional JSON body ``{"current_password": …}``."""
    confirm = await read_body(ConfirmBody) if await request.get_data() else ConfirmBody()
    await confirm_recent_auth(confirm.current_password)


def client_address() -> str | None:
    """The peer's IP address, or None when it has none (test client, Unix socket)."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


def direct_loopback() -> bool:
    """True when the peer is this machine itself, not a client relayed by a trusted proxy."""
    if via_proxy(request.scope):
        return False
    address = client_address()
    return address is not None and ipaddress.ip_address(address).is_loopback


def actor() -> Actor:
    user = current_user()
    return Actor(name=f"user:{user.username}", user_id=user.id, source_ip=client_address())


def sh_lines(fields: list[tuple[str, object]]) -> str:
    """``key value`` lines for the connect script (read with sed, never eval); one line each."""
    out = []
    for key, value in fields:
        text = "" if value is None else str(value)
        out.append(f"{key} {text.replace(chr(13), ' ').replace(chr(10), ' ')}")
    return "\n".join(out) + "\n"
