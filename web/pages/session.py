"""Cookie sessions and CSRF for the pages (the JSON API uses bearer tokens and has neither).

A session is the same signed token the API hands out, kept in an HttpOnly, SameSite=Lax cookie
(Secure when the page was served over TLS). It names a server-side session row
(``cloudclaude.domain.sessions``): signing out deletes the row, and a password change, reset,
disable, expiry or demotion ends it, after which the cookie no longer signs anyone in. Only
``full`` sessions count here; a bootstrap token in the cookie is no session. Every
state-changing page request carries a CSRF token: a digest of the session token, so only a page
that could read our HTML knows it. The sign-in form, which has no session yet, uses a random
double-submit cookie instead.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from quart import g, has_request_context, request, websocket
from werkzeug.sansio.response import Response

from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.users import User
from web.api.common import confirm_recent_auth, services

SESSION_COOKIE = "cc_session"
LOGIN_CSRF_COOKIE = "cc_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
P = ParamSpec("P")
R = TypeVar("R")


def csrf_for(session_token: str) -> str:
    return hashlib.sha256(b"cloudclaude-csrf\0" + session_token.encode()).hexdigest()[:40]


def secure_request() -> bool:
    return request.scheme == "https"


def set_session(response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        httponly=True,
        samesite="Lax",
        secure=secure_request(),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def new_login_csrf(response: Response) -> str:
    value = secrets.token_urlsafe(24)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, value, httponly=True, samesite="Lax", secure=secure_request()
    )
    return value


async def sent_csrf() -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form
    return str(form.get(CSRF_FIELD, ""))


async def check_login_csrf() -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, await sent_csrf()):
        raise CloudClaudeError("csrf_invalid", "reload the sign-in page and try again")


async def session_user() -> User | None:
    """The signed-in user of this request or WebSocket (None: no or an expired session)."""
    cookies = request.cookies if has_request_context() else websocket.cookies
    token = cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        signed_in = await services().accounts.sessions.authenticate(token)
    except CloudClaudeError:
        return None
    user = signed_in.user
    g.user = user
    g.signed_in = signed_in
    g.csrf = csrf_for(token)
    return user


async def require(role: str | None) -> User:
    """The session's user, checked for ``role``; unsafe requests also need the CSRF token."""
    user = await session_user()
    if user is None:
        raise CloudClaudeError("auth_required", "sign in first")
    if request.method in UNSAFE and not hmac.compare_digest(g.csrf, await sent_csrf()):
        raise CloudClaudeError("csrf_invalid")
    if role is not None and user.role != role:
        raise CloudClaudeError("forbidden", "this page is for admins")
    return user


#: The form field of the signed-in user's own password, for changes that need recent auth.
CURRENT_PASSWORD = "current_password"  # noqa: S105 (a field name)
_CONFIRM_SLUGS = ("recent_auth_required", "current_password_wrong")


async def confirm_recent(data: dict[str, str]) -> None:
    """A sensitive change needs the session's password given recently or in the form."""
    await confirm_recent_auth(data.get(CURRENT_PASSWORD) or None)


def confirm_errors(error: CloudClaudeError) -> dict[str, str] | None:
    """The error next to the form's current-password field, when that is what it is about."""
    if error.error.slug not in _CONFIRM_SLUGS:
        return None
    return {CURRENT_PASSWORD: error.detail or error.error.message}


def page(
    role: str | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """A page for signed-in users (of ``role``), CSRF-checked when it changes anything."""

    def wrap(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            await require(role)
            return await fn(*args, **kwargs)

        return wrapper

    return wrap
