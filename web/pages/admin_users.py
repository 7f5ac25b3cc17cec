"""Admin pages for users: search and paging, create (password shown once), edit, disable,
rotate the password, delete with confirmation (and, when asked, their boxes first), SSH keys.

Rotating a password and adding a key ask for the admin's own password unless they signed in a
moment ago (``auth.recent_auth_s``). Changes are POST-redirect-GET: the user's page then says
what happened, so a reload repeats nothing, and a GET of an action's address redirects to the
user's page. A failed form comes back with all its errors, each next to its field. Forms that
show a password once (create, rotate) are POST-redirect-GET too: the password waits in
``shown_once`` for the one GET that shows it, so a reload neither repeats the change nor
shows the password again.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.auth.passwords import check_policy
from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.accounts import MAX_HOSTS_LIMIT, check_username
from cloudclaude.errors import CloudClaudeError
from web.api.common import actor, paging, services
from web.pages.forms import FormCheck, date_field, errors_for, form_dict, int_field
from web.pages.render import render
from web.pages.session import CURRENT_PASSWORD, confirm_errors, confirm_recent, page
from web.pages.shown_once import redirect_showing, take_shown

blueprint = Blueprint("pages_admin_users", __name__, url_prefix="/admin/users")
PAGE = 25
#: How long the confirm form waits for the boxes' delete tasks before answering.
DELETE_WAIT_S = 15.0
#: The create form's fields (an error about anything else shows at the top of the form).
USER_FIELDS = ("username", "role", "max_hosts", "expires_at", "password")
#: What the user's page says after a change (``?done=``).
DONE = {
    "saved": "Saved.",
    "disabled": "Account disabled.",
    "active": "Account enabled.",
    "key-added": "Key added.",
    "key-removed": "Key removed.",
    "exits": "Exits for their own boxes saved.",
    "deleting": "Deleting their boxes; the user stays until they are gone."
    " Delete the user again (with the boxes) once their tasks have finished.",
}


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
        notice="User deleted." if status == 200 and request.args.get("done") == "deleted" else "",
    )
    return html, status


@blueprint.get("")
@page("admin")
async def users() -> tuple[str, int]:
    made = take_shown("user-created")  # after the create form: its password, this once
    return await _list(created=(made["username"], made["password"]) if made else None)


def _check_max_hosts(check: FormCheck, data: dict[str, str], default: int | None) -> int | None:
    value = check.read("max_hosts", lambda: int_field(data, "max_hosts", default))
    if value is not None and not 0 <= value <= MAX_HOSTS_LIMIT:
        check.errors["max_hosts"] = f"must be 0..{MAX_HOSTS_LIMIT}"
    return value


@blueprint.post("")
@page("admin")
async def create_user() -> tuple[str, int] | Response:
    data = await form_dict()
    check = FormCheck()  # every field's problem at once, before the account is made
    check.read("username", lambda: check_username(data.get("username", "")))
    max_hosts = _check_max_hosts(check, data, 1)
    expires_at = check.read("expires_at", lambda: date_field(data, "expires_at"))
    if data.get("password"):
        check.read("password", lambda: check_policy(data["password"]))
    if check.errors:
        return await _list(422, form=data, errors=check.errors)
    try:
        user, generated = await services().accounts.create(
            actor(),
            username=data.get("username", ""),
            role=data.get("role") or "user",
            password=data.get("password") or None,
            expires_at=expires_at,
            max_hosts=max_hosts or 0,
        )
    except CloudClaudeError as exc:
        return await _list(exc.http_status, form=data, errors=errors_for(exc, USER_FIELDS))
    # The generated password is shown once, by the GET this redirects to; never stored.
    values = {"username": user.username, "password": generated or ""}
    return redirect_showing("/admin/users", "user-created", values)


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
    if not notice and status == 200:
        notice = DONE.get(request.args.get("done", ""), "")
    every_exit = await svc.exits.list_exits(limit=200, offset=0)
    allowed = {e.id for e in await svc.self_service.allowed_exits(user_id)}
    html = await render(
        "admin/user.html",
        shown=user,
        hosts=hosts.items,
        exits=every_exit.items,
        allowed=allowed,
        default_exit=svc.live.current.egress.default_exit,
        keys=await svc.accounts.list_keys(user_id),
        notice=notice,
        secret=secret,
        errors=errors or {},
    )
    return html, status


def _done(uid: uuid.UUID, what: str) -> Response:
    return redirect(f"/admin/users/{uid}?done={what}")


@blueprint.get("/<user_id>")
@page("admin")
async def user(user_id: str) -> tuple[str, int]:
    uid = parse_uuid(user_id, "user")
    if (rotated := take_shown(f"user-password:{uid}")) is not None:
        return await _detail(uid, notice="New password (shown once):", secret=rotated["password"])
    return await _detail(uid)


@blueprint.post("/<user_id>")
@page("admin")
async def update_user(user_id: str) -> tuple[str, int] | Response:
    uid = parse_uuid(user_id, "user")
    data = await form_dict()
    check = FormCheck()
    max_hosts = _check_max_hosts(check, data, None)
    expires_at = check.read("expires_at", lambda: date_field(data, "expires_at"))
    if check.errors:
        return await _detail(uid, 422, errors=check.errors)
    try:
        await services().accounts.update(
            actor(), uid, max_hosts=max_hosts, expires_at=expires_at, set_expires_at=True
        )
    except CloudClaudeError as exc:
        errors = errors_for(exc, ("max_hosts", "expires_at"))
        return await _detail(
            uid, exc.http_status, errors={k or "update": v for k, v in errors.items()}
        )
    return _done(uid, "saved")


@blueprint.get("/<user_id>/<action>")
@page("admin")
async def user_action_address(user_id: str, action: str) -> Response:
    """An action's address opened (a reload, a bookmark): the user's page, not a 405."""
    return redirect(f"/admin/users/{parse_uuid(user_id, 'user')}")


@blueprint.post("/<user_id>/<action>")
@page("admin")
async def user_action(user_id: str, action: str) -> tuple[str, int] | Response:
    uid = parse_uuid(user_id, "user")
    accounts = services().accounts
    if action in ("disable", "enable"):
        status = "disabled" if action == "disable" else "active"
        await accounts.update(actor(), uid, status=status)
        return _done(uid, status)
    if action == "rotate-password":
        try:
            await confirm_recent(await form_dict())
        except CloudClaudeError as exc:
            if (errors := confirm_errors(exc)) is None:
                raise
            return await _detail(uid, exc.http_status, errors=errors)
        generated = await accounts.set_password(actor(), uid, None)
        values = {"password": generated or ""}
        return redirect_showing(f"/admin/users/{uid}", f"user-password:{uid}", values)
    if action == "delete":
        data = await form_dict()
        shown = await accounts.get(uid)
        if data.get("confirm") != shown.username:
            errors = {"confirm": f"type {shown.username} to confirm"}
            return await _detail(uid, 422, errors=errors)
        return await _delete(uid, with_hosts=data.get("with_hosts") in ("1", "on", "true"))
    if action == "keys":
        return await _add_key(uid)
    if action == "exits":
        chosen = [str(v) for k, v in (await request.form).items(multi=True) if k == "exit"]
        await services().self_service.set_allowed_exits(actor(), uid, chosen)
        return _done(uid, "exits")
    raise CloudClaudeError("not_found", f"no action {action[:32]!r}")


async def _add_key(uid: uuid.UUID) -> tuple[str, int] | Response:
    data = await form_dict()
    try:
        await confirm_recent(data)
        await services().accounts.add_key(
            actor(), uid, data.get("public_key", ""), data.get("name") or None
        )
    except CloudClaudeError as exc:
        if (confirm := confirm_errors(exc)) is not None:  # the key form's own password field
            errors = {"key_current_password": confirm[CURRENT_PASSWORD]}
        else:
            found = errors_for(exc, ("public_key",))
            errors = {k or "keys": v for k, v in found.items()}
        return await _detail(uid, exc.http_status, errors=errors)
    return _done(uid, "key-added")


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
        return redirect("/admin/users?done=deleted")
    return _done(uid, "deleting")


@blueprint.get("/<user_id>/keys/<key_id>/delete")
@page("admin")
async def delete_key_address(user_id: str, key_id: str) -> Response:
    return redirect(f"/admin/users/{parse_uuid(user_id, 'user')}")


@blueprint.post("/<user_id>/keys/<key_id>/delete")
@page("admin")
async def delete_key(user_id: str, key_id: str) -> Response:
    uid = parse_uuid(user_id, "user")
    await services().accounts.delete_key(actor(), uid, parse_uuid(key_id, "key"))
    return _done(uid, "key-removed")
