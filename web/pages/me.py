"""A user's own pages: their boxes (status, start/stop/rebuild, how to connect), SSH keys,
and their password.

Adding a key asks for the current password unless the user signed in a moment ago
(``auth.recent_auth_s``); changing the password ends the user's other sessions, not this one.
Forms that show a box's SSH password (a new box, a new password) are POST-redirect-GET: the
password waits in ``shown_once`` for the one GET that shows it, so a reload neither makes
another box nor rotates again.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.host_states import offered_actions
from cloudclaude.errors import CloudClaudeError, by_code
from cloudclaude.model.hosts import HostAction
from cloudclaude.sshproxy.hostkey import known_hosts_line
from web.api.common import actor, current_session, current_user, services
from web.api.connect import curl_line, ssh_target
from web.pages.admin_hosts import REBUILD_CONFIRM
from web.pages.forms import errors_for, form_dict, uuid_field
from web.pages.me_claude import claude_panel
from web.pages.render import is_htmx, render
from web.pages.session import confirm_errors, confirm_recent, page
from web.pages.shown_once import redirect_showing, showing, take_shown

blueprint = Blueprint("pages_me", __name__, url_prefix="/me")
ACTIONS: tuple[HostAction, ...] = ("start", "stop", "rebuild")
#: What the page says after a queued action (``?done=``).
DONE: dict[str, str] = {name: f"{name.capitalize()} queued." for name in ACTIONS}
DONE["delete"] = "Delete queued: the box and its home go."


def _failed_notice() -> str:
    """``?failed=ACTION&error=CODE`` after a refused action: the registry's words for it."""
    action, code = request.args.get("failed", ""), request.args.get("error", "")
    if action not in (*ACTIONS, "delete") or not code:
        return ""
    entry = by_code(code)
    if entry is None:
        return ""
    return f"{action.capitalize()} did not happen: {entry.message} ({entry.code} {entry.slug})"


async def _hosts_page(
    status: int = 200,
    *,
    rotated: tuple[str, str] | None = None,
    errors: dict[uuid.UUID, dict[str, str]] | None = None,
    made: dict[str, str] | None = None,
    new_errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[str, int]:
    svc = services()
    user = current_user()
    options = await svc.self_service.options(user)
    found = await svc.hosts.list_hosts(limit=100, offset=0, user_id=user.id)
    ssh_host, ssh_port = ssh_target()
    lines = {
        host.id: {
            "ssh": f"ssh -p {ssh_port} {user.username}+{host.short_id}@{ssh_host}",
            "curl": curl_line(f"/entry/{host.short_id}"),
        }
        for host in found.items
    }
    fragment = is_htmx() and request.method == "GET" and not showing()  # a live refresh
    template = "me/_hosts.html" if fragment else "me/hosts.html"
    html = await render(
        template,
        hosts=found.items,
        lines=lines,
        offered={host.id: offered_actions(host.status) for host in found.items},
        bootstrap=curl_line("/v1/bootstrap/script"),
        cli_install=curl_line("/v1/cli/install.sh"),
        fingerprint=svc.ssh_host_key.get_fingerprint("sha256"),
        known_hosts=known_hosts_line(svc.ssh_host_key, ssh_host, ssh_port),
        notice=DONE.get(request.args.get("done", ""), "") if status == 200 else "",
        failed=_failed_notice() if status == 200 else "",
        rotated=rotated,
        errors=errors or {},
        options=options,
        made=made,
        new_errors=new_errors or {},
        form=form or {},
        claude=await claude_panel(user),
    )
    return html, status


@blueprint.get("")
@page()
async def hosts() -> tuple[str, int]:
    made = take_shown("box-made")  # after a form that shows a box's password: this once
    rotated = take_shown("box-ssh-password")
    return await _hosts_page(
        made=made, rotated=(rotated["short_id"], rotated["password"]) if rotated else None
    )


@blueprint.get("/hosts/<host_id>/rebuild")
@page()
async def confirm_rebuild(host_id: str) -> str:
    """The rebuild's confirm step on one's own box: what is lost, and the button."""
    shown = await services().hosts.get(parse_uuid(host_id, "host"), owner=current_user().id)
    return await render(
        "admin/host_rebuild.html",
        host=shown,
        confirm=REBUILD_CONFIRM,
        offered=offered_actions(shown.status),
        back="/me",
        post=f"/me/hosts/{shown.id}/rebuild",
    )


@blueprint.get("/hosts/<host_id>/<action>")
@page()
async def host_action_address(host_id: str, action: str) -> Response:
    """An action's address opened (a reload, a bookmark): the boxes page, not a 405."""
    return redirect("/me")


@blueprint.post("/hosts")
@page()
async def make_host() -> tuple[str, int] | Response:
    """A box of one's own (``users.self_service``); its SSH password is shown once, by the
    GET this redirects to."""
    data = await form_dict()
    try:
        exit_id = uuid_field(data, "exit_id")
        host, password, _task = await services().self_service.create(
            actor(),
            current_user(),
            preset=data.get("preset") or None,
            exit_id=exit_id,
            start=data.get("start") == "on",
        )
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        field = {"exit_not_allowed": "exit_id", "exit_not_found": "exit_id"}.get(
            exc.error.slug, "preset"
        )
        problem = f"{exc.detail or exc.error.message} ({exc.error.code})"
        return await _hosts_page(exc.http_status, new_errors={field: problem}, form=data)
    values = {
        "short_id": host.short_id,
        "password": password,
        "started": "yes" if data.get("start") == "on" else "",
    }
    return redirect_showing("/me", "box-made", values)


@blueprint.post("/hosts/<host_id>/delete")
@page()
async def delete_host(host_id: str) -> Response:
    """Delete one's own box and its home, once its short id is typed."""
    uid = parse_uuid(host_id, "host")
    shown = await services().hosts.get(uid, owner=current_user().id)
    data = await form_dict()
    if data.get("confirm", "").strip() != shown.short_id:
        return redirect(f"/me?failed=delete&error=SYSTEM_004#host-{shown.short_id}")
    try:
        await services().self_service.delete(actor(), current_user(), uid)
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        return redirect(f"/me?failed=delete&error={exc.error.code}#host-{shown.short_id}")
    return redirect("/me?done=delete")


@blueprint.post("/hosts/<host_id>/rotate-ssh-password")
@page()
async def rotate_ssh_password(host_id: str) -> tuple[str, int] | Response:
    """A new password for the box's entry link, shown once by the GET this redirects to."""
    uid = parse_uuid(host_id, "host")
    data = await form_dict()
    try:
        await confirm_recent(data)
        password = await services().hosts.rotate_ssh_password(actor(), uid, owner=current_user().id)
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        errors = confirm_errors(exc) or {"current_password": exc.detail or exc.error.message}
        return await _hosts_page(exc.http_status, errors={uid: errors})
    shown = await services().hosts.get(uid, owner=current_user().id)
    values = {"short_id": shown.short_id, "password": password}
    return redirect_showing("/me", "box-ssh-password", values)


@blueprint.post("/hosts/<host_id>/<action>")
@page()
async def host_action(host_id: str, action: str) -> Response:
    """POST-redirect-GET: a reload of the answer never queues the action again."""
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action[:32]!r}")
    uid = parse_uuid(host_id, "host")
    user = current_user()
    # ``owner`` makes another user's host a 404, as if it did not exist.
    shown = await services().hosts.get(uid, owner=user.id)
    data = await form_dict()
    if action == "rebuild" and data.get("confirm") != REBUILD_CONFIRM:
        return redirect(f"/me/hosts/{uid}/rebuild")  # the confirm step first
    if action not in offered_actions(shown.status):
        return redirect(f"/me?failed={action}&error=STATE_013#host-{shown.short_id}")
    try:
        await services().hosts.act(actor(), uid, action, owner=user.id)
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        return redirect(f"/me?failed={action}&error={exc.error.code}#host-{shown.short_id}")
    return redirect(f"/me?done={action}#host-{shown.short_id}")


async def _keys_page(
    status: int = 200, notice: str = "", errors: dict[str, str] | None = None
) -> tuple[str, int]:
    keys = await services().accounts.list_keys(current_user().id)
    html = await render("me/keys.html", keys=keys, notice=notice, errors=errors or {})
    return html, status


@blueprint.get("/keys")
@page()
async def keys() -> tuple[str, int]:
    return await _keys_page()


@blueprint.post("/keys")
@page()
async def add_key() -> tuple[str, int]:
    data = await form_dict()
    try:
        await confirm_recent(data)
        await services().accounts.add_key(
            actor(), current_user().id, data.get("public_key", ""), data.get("name") or None
        )
    except CloudClaudeError as exc:
        errors = confirm_errors(exc) or errors_for(exc)
        return await _keys_page(exc.http_status, errors=errors)
    return await _keys_page(notice="Key added.")


@blueprint.post("/keys/<key_id>/delete")
@page()
async def delete_key(key_id: str) -> tuple[str, int]:
    await services().accounts.delete_key(actor(), current_user().id, parse_uuid(key_id, "key"))
    return await _keys_page(notice="Key removed.")


@blueprint.get("/password")
@page()
async def password_form() -> str:
    return await render("me/password.html", errors={}, notice="")


@blueprint.post("/password")
@page()
async def change_password() -> tuple[str, int]:
    data = await form_dict()
    if data.get("new_password") != data.get("repeat"):
        errors = {"repeat": "the two new passwords differ"}
        return await render("me/password.html", errors=errors, notice=""), 422
    try:
        await services().accounts.change_own_password(
            actor(),
            current_user(),
            data.get("current", ""),
            data.get("new_password", ""),
            keep=current_session().session.id,
        )
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        field = "current" if exc.error.slug == "current_password_wrong" else "new_password"
        errors = {field: exc.detail or exc.error.message}
        return await render("me/password.html", errors=errors, notice=""), exc.http_status
    return await render("me/password.html", errors={}, notice="Password changed."), 200
