"""Admin pages for Claude Code's API keys: store one (at the top), the list with masks,
assignment and the team default, rotate, assign, and delete after a confirm step.

A key never comes back to the browser: the list shows its mask (``sk-ant-…abcd``), and a form
that fails is shown again with the key field empty. Storing and rotating a key need the
admin's password unless they signed in a moment ago (``auth.recent_auth_s``).
"""

from __future__ import annotations

import uuid

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from web.api.common import actor, services
from web.pages.forms import form_dict
from web.pages.render import render
from web.pages.session import confirm_errors, confirm_recent, page

blueprint = Blueprint("pages_admin_credentials", __name__, url_prefix="/admin/credentials")
DONE = {
    "created": "Key stored.",
    "rotated": "Key replaced: the next request of its users uses it.",
    "assigned": "Assignment saved.",
    "deleted": "Key deleted: its users fall back to the next key in line.",
}
#: The form fields an error may belong to (the rest go to the top of the form).
FIELDS = ("name", "key", "users", "current_password")


def usernames(text: str) -> list[str]:
    """``alice, bob carol`` → ``["alice", "bob", "carol"]``."""
    return [part for part in text.replace(",", " ").split() if part]


def _field(error: CloudClaudeError) -> str:
    confirm = confirm_errors(error)
    if confirm:
        return "current_password"
    slug = error.error.slug
    if slug == "api_key_invalid":
        return "key"
    if slug == "not_found":
        return "users"
    if slug in ("credential_name_taken", "validation_failed"):
        return "name"
    return ""


async def _page(
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    failed_id: uuid.UUID | None = None,
) -> tuple[str, int]:
    keys = await services().credentials.list_keys()
    html = await render(
        "admin/credentials.html",
        keys=keys,
        errors=errors or {},
        form={k: v for k, v in (form or {}).items() if k not in ("key", "current_password")},
        failed_id=failed_id,
        notice=DONE.get(request.args.get("done", ""), "") if status == 200 else "",
        user_keys=services().credentials.user_keys,
    )
    return html, status


def _problem(error: CloudClaudeError) -> dict[str, str]:
    if error.http_status >= 500:
        raise error
    return {_field(error): f"{error.detail or error.error.message} ({error.error.code})"}


@blueprint.get("")
@page("admin")
async def credentials() -> tuple[str, int]:
    return await _page()


@blueprint.post("")
@page("admin")
async def create() -> tuple[str, int] | Response:
    data = await form_dict()
    try:
        await confirm_recent(data)
        await services().credentials.create(
            actor(),
            data.get("name", ""),
            data.get("key", ""),
            default=data.get("default") == "on",
            assign=usernames(data.get("users", "")),
        )
    except CloudClaudeError as exc:
        return await _page(exc.http_status, errors=_problem(exc), form=data)
    return redirect("/admin/credentials?done=created")


def _id(text: str) -> uuid.UUID:
    return parse_uuid(text, "API key", "credential_not_found")


@blueprint.post("/<credential_id>/rotate")
@page("admin")
async def rotate(credential_id: str) -> tuple[str, int] | Response:
    uid = _id(credential_id)
    data = await form_dict()
    try:
        await confirm_recent(data)
        await services().credentials.rotate(actor(), uid, data.get("key", ""))
    except CloudClaudeError as exc:
        errors = {f"rotate-{k}": v for k, v in _problem(exc).items()}
        return await _page(exc.http_status, errors=errors, failed_id=uid)
    return redirect(f"/admin/credentials?done=rotated#key-{uid}")


@blueprint.post("/<credential_id>/assign")
@page("admin")
async def assign(credential_id: str) -> tuple[str, int] | Response:
    uid = _id(credential_id)
    data = await form_dict()
    try:
        await services().credentials.assign(
            actor(), uid, usernames(data.get("users", "")), data.get("default") == "on"
        )
    except CloudClaudeError as exc:
        errors = {f"assign-{k}": v for k, v in _problem(exc).items()}
        return await _page(exc.http_status, errors=errors, failed_id=uid)
    return redirect(f"/admin/credentials?done=assigned#key-{uid}")


@blueprint.get("/<credential_id>/delete")
@page("admin")
async def confirm_delete(credential_id: str) -> str:
    shown = await services().credentials.get(_id(credential_id))
    return await render("admin/credential_delete.html", key=shown)


@blueprint.post("/<credential_id>/delete")
@page("admin")
async def delete(credential_id: str) -> Response:
    uid = _id(credential_id)
    data = await form_dict()
    if data.get("confirm") != "yes":
        return redirect(f"/admin/credentials/{uid}/delete")  # the confirm step first
    await services().credentials.delete(actor(), uid)
    return redirect("/admin/credentials?done=deleted")


@blueprint.get("/<credential_id>/<action>")
@page("admin")
async def action_address(credential_id: str, action: str) -> Response:
    """An action's address opened (a reload, a bookmark): the list, not a 405."""
    return redirect("/admin/credentials")
