"""Sign-in and sign-out; admins and users share the form and land on their own home.

Signing out deletes the session on the server too, so a copy of the cookie is signed out as
well.
"""

from __future__ import annotations

import urllib.parse

from quart import Blueprint, Response, redirect, request
from werkzeug.sansio.response import Response as AnyResponse

from cloudclaude.errors import CloudClaudeError
from web.api.common import actor, client_address, current_session, services
from web.api.errors import is_page_request
from web.pages.render import render
from web.pages.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_login_csrf,
    clear_session,
    new_login_csrf,
    page,
    session_user,
    set_session,
)

blueprint = Blueprint("pages_auth", __name__)


@blueprint.before_app_request
async def _signed_in_on_unknown_pages() -> None:
    """An unknown page address (a 404 page) still shows who is signed in, and "Sign out":
    only requests that match no route look the session up here; pages do it themselves."""
    if request.url_rule is None and is_page_request() and request.cookies.get(SESSION_COOKIE):
        await session_user()


def home_of(role: str) -> str:
    return "/admin" if role == "admin" else "/me"


#: Longest ``next`` kept; a real page path with its query is far shorter.
MAX_NEXT = 2048


def safe_next(target: str) -> str:
    """``target`` if it is a path on this site, else ``""`` (the caller goes to the role's
    home): no open redirect. Browsers drop tabs and newlines inside URLs and read a backslash
    as a slash, so such a path could turn into ``//other.site``; only visible ASCII without
    backslashes is kept, and it must be one slash and then a path."""
    if not target or len(target) > MAX_NEXT or not target.startswith("/"):
        return ""
    if target.startswith("//") or "\\" in target:
        return ""
    if not all("!" <= c <= "~" for c in target):  # controls, spaces, non-ASCII
        return ""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return ""
    return target


@blueprint.get("/")
async def start() -> AnyResponse:
    user = await session_user()
    return redirect(home_of(user.role) if user else "/login")


async def _form(status: int, problem: str = "", username: str = "", next_: str = "") -> Response:
    response = Response(status=status, mimetype="text/html")
    login_csrf = new_login_csrf(response)
    html = await render(
        "login.html",
        user=None,
        csrf="",
        login_csrf=login_csrf,
        problem=problem,
        username=username,
        next=next_,
    )
    response.set_data(html)
    return response


@blueprint.get("/login")
async def login_form() -> AnyResponse:
    user = await session_user()
    if user is not None:
        return redirect(home_of(user.role))
    return await _form(200, next_=safe_next(request.args.get("next", "")))


@blueprint.post("/login")
async def login() -> AnyResponse:
    await check_login_csrf()
    form = await request.form
    username = str(form.get("username", "")).strip()
    next_ = safe_next(str(form.get("next", "")))
    try:
        result = await services().accounts.login(
            username, str(form.get("password", "")), client_address()
        )
    except CloudClaudeError as exc:
        if exc.error.slug in ("auth_invalid", "account_disabled", "account_expired"):
            status = exc.http_status
            return await _form(status, exc.error.message, username, next_)
        if exc.error.slug == "rate_limited":  # the lock-out says how long it lasts
            wait = int(exc.extra.get("retry_after") or 1)
            problem = (
                f"Too many sign-in attempts. Try again in {wait} second{'s' if wait != 1 else ''}"
                f" ({exc.error.code} {exc.error.slug})."
            )
            locked = await _form(exc.http_status, problem, username, next_)
            locked.headers["Retry-After"] = str(wait)
            return locked
        raise
    response = redirect(next_ or home_of(result.user.role))
    ttl = services().live.current.auth.token_ttl_s
    set_session(response, result.token, ttl)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@blueprint.post("/logout")
@page()
async def logout() -> AnyResponse:
    await services().accounts.sessions.close(actor(), current_session())
    response = redirect("/login")
    clear_session(response)
    return response
