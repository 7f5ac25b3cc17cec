"""Admin pages for users: search and paging, create (password shown once), edit, disable,
rotate the password, delete with confirmation (and, when asked, their boxes first), SSH keys.

Rotating a password and adding a key ask for the admin's own password unless they signed in a
moment ago (``auth.recent_auth_s``).
"""

from __future__ import annotations

import uuid

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from web.api.common import actor, paging, services
from web.pages.forms import date_field, errors_for, form_dict, int_field
from web.pages.render import render
from web.pages.session import confirm_errors, confirm_recent, page

blueprint = Blueprint("pages_admin_users", __name__, url_prefix="/admin/users")
PAGE = 25
#: How long the confirm form waits for the boxes' delete tasks before answering.
DELETE_WAIT_S = 15.0


async def _list(
    status: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[str, str] | None = None,
) -> tuple[str, int]:
    limit, offset = paging(PAGE)
    search = request.args.get("q", "").strip() or None
    found = await services().accounts.list_users(limit=limit, offset=offset, search=search)
    html = await render(
        "admin/users.html",
        page=found,
        limit=limit,
        offset=offset,
        args=request.args,
        form=form or {},
        errors=errors or {},
        created=created,
    )
    return html, status


@blueprint.get("")
@page("admin")
async def users() -> tuple[str, int]:
    return await _list()


@blueprint.post("")
@page("admin")
async def create_user() -> tuple[str, int]:
    data = await form_dict()
    try:
        user, generated = await services().accounts.create(
            actor(),
            username=data.get("username", ""),
            role=data.get("role") or "user",
            password=data.get("password") or None,
            expires_at=date_field(data, "expires_at"),
            max_hosts=int_field(data, "max_hosts", 1) or 0,
        )
    except CloudClaudeError as exc:
        return await _list(exc.http_status, form=data, errors=errors_for(exc))
    # The generated password is shown this once and never stored in the clear.
    return await _list(201, created=(user.username, generated or ""))


async def _detail(
    user_id: uuid.UUID,
    status: int = 200,
    *,
    notice: str = "",
    secret: str = "",
    errors: dict[str, str] | None = None,
) -> tuple[str, int]:
    svc = services()
    user = await svc.accounts.get(user_id)
    hosts = await svc.hosts.list_hosts(limit=100, offset=0, user_id=user_id)
    html = await render(
        "admin/user.html",
        shown=user,
        hosts=hosts.items,
        keys=await svc.accounts.list_keys(user_id),
        notice=notice,
        secret=secret,
        errors=errors or {},
    )
    return html, status


@blueprint.get("/<user_id>")
@page("admin")
async def user(user_id: str) -> tuple[str, int]:
    return await _detail(parse_uuid(user_id, "user"))


@blueprint.post("/<user_id>")
@page("admin")
async def update_user(user_id: str) -> tuple[str, int]:
    uid = parse_uuid(user_id, "user")
    data = await form_dict()
    try:
        await services().accounts.update(
            actor(),
            uid,
            max_hosts=int_field(data, "max_hosts"),
            expires_at=date_field(data, "expires_at"),
            set_expires_at=True,
        )
    except CloudClaudeError as exc:
        return await _detail(uid, exc.http_status, errors=errors_for(exc))
    return await _detail(uid, notice="Saved.")


@blueprint.post("/<user_id>/<action>")
@page("admin")
async def user_action(user_id: str, action: str) -> tuple[str, int] | Response:
    uid = parse_uuid(user_id, "user")
    accounts = services().accounts
    if action in ("disable", "enable"):
        status = "disabled" if action == "disable" else "active"
        await accounts.update(actor(), uid, status=status)
        return await _detail(uid, notice=f"Account {status}.")
    if action == "rotate-password":
        try:
            await confirm_recent(await form_dict())
        except CloudClaudeError as exc:
            if (errors := confirm_errors(exc)) is None:
                raise
            return await _detail(uid, exc.http_status, errors=errors)
        generated = await accounts.set_password(actor(), uid, None)
        return await _detail(uid, notice="New password (shown once):", secret=generated or "")
    if action == "delete":
        data = await form_dict()
        shown = await accounts.get(uid)
        if data.get("confirm") != shown.username:
            errors = {"confirm": f"type {shown.username} to confirm"}
            return await _detail(uid, 422, errors=errors)
        return await _delete(uid, with_hosts=data.get("with_hosts") in ("1", "on", "true"))
    if action == "keys":
        data = await form_dict()
        try:
            await confirm_recent(data)
            await accounts.add_key(
                actor(), uid, data.get("public_key", ""), data.get("name") or None
            )
        except CloudClaudeError as exc:
            errors = confirm_errors(exc) or errors_for(exc)
            return await _detail(uid, exc.http_status, errors=errors)
        return await _detail(uid, notice="Key added.")
    raise CloudClaudeError("not_found", f"no action {action!r}")


async def _delete(uid: uuid.UUID, *, with_hosts: bool) -> tuple[str, int] | Response:
    """Delete the user (``with_hosts``: their boxes first, waiting a little for them)."""
    try:
        done = await services().user_deletion.delete(
            actor(), uid, with_hosts=with_hosts, wait_s=DELETE_WAIT_S if with_hosts else 0
        )
    except CloudClaudeError as exc:
        if exc.http_status != 409:
            raise
        return await _detail(uid, exc.http_status, errors={"confirm": exc.detail or ""})
    if done.deleted:
        return redirect("/admin/users")
    left = sum(1 for t in done.tasks if t.status != "succeeded")
    notice = (
        f"Deleting {left} box(es); the user stays until they are gone."
        " Delete the user again (with the boxes) once their tasks have finished."
    )
    return await _detail(uid, 202, notice=notice)


@blueprint.post("/<user_id>/keys/<key_id>/delete")
@page("admin")
async def delete_key(user_id: str, key_id: str) -> tuple[str, int]:
    uid = parse_uuid(user_id, "user")
    await services().accounts.delete_key(actor(), uid, parse_uuid(key_id, "key"))
    return await _detail(uid, notice="Key removed.")
