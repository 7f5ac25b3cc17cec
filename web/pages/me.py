"""A user's own pages: their boxes (status, start/stop/rebuild, how to connect), SSH keys,
and their password.

Adding a key asks for the current password unless the user signed in a moment ago
(``auth.recent_auth_s``); changing the password ends the user's other sessions, not this one.
"""

from __future__ import annotations

from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HostAction
from web.api.common import actor, current_session, current_user, services
from web.api.connect import curl_line, ssh_target
from web.pages.forms import errors_for, form_dict
from web.pages.render import is_htmx, render
from web.pages.session import confirm_errors, confirm_recent, page

blueprint = Blueprint("pages_me", __name__, url_prefix="/me")
ACTIONS: tuple[HostAction, ...] = ("start", "stop", "rebuild")


async def _hosts_page(status: int = 200, notice: str = "") -> tuple[str, int]:
    user = current_user()
    found = await services().hosts.list_hosts(limit=100, offset=0, user_id=user.id)
    ssh_host, ssh_port = ssh_target()
    lines = {
        host.id: {
            "ssh": f"ssh -p {ssh_port} {user.username}+{host.short_id}@{ssh_host}",
            "curl": curl_line(f"/entry/{host.short_id}"),
        }
        for host in found.items
    }
    template = "me/_hosts.html" if is_htmx() else "me/hosts.html"
    html = await render(
        template,
        hosts=found.items,
        lines=lines,
        bootstrap=curl_line("/v1/bootstrap/script"),
        notice=notice,
    )
    return html, status


@blueprint.get("")
@page()
async def hosts() -> tuple[str, int]:
    return await _hosts_page()


@blueprint.post("/hosts/<host_id>/<action>")
@page()
async def host_action(host_id: str, action: str) -> tuple[str, int]:
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action!r}")
    user = current_user()
    # ``owner`` makes another user's host a 404, as if it did not exist.
    await services().hosts.act(actor(), parse_uuid(host_id, "host"), action, owner=user.id)
    return await _hosts_page(202, f"{action} queued.")


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
