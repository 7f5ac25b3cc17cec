"""``/v1/user/hosts``: a signed-in user's own hosts; another user's host is a 404, always."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HostAction
from cloudclaude.model.views import host_view
from web.api.common import (
    actor,
    authenticate,
    confirm_from_body,
    current_user,
    page_body,
    paging,
    services,
)

blueprint = Blueprint("api_user_hosts", __name__, url_prefix="/v1/user/hosts")
ACTIONS: tuple[HostAction, ...] = ("start", "stop", "rebuild")


@blueprint.before_request
async def _signed_in() -> None:
    await authenticate()


@blueprint.get("")
async def my_hosts() -> dict[str, Any]:
    limit, offset = paging()
    page = await services().hosts.list_hosts(limit=limit, offset=offset, user_id=current_user().id)
    return page_body([host_view(h) for h in page.items], page.total, limit, offset)


@blueprint.get("/<host_id>")
async def my_host(host_id: str) -> dict[str, Any]:
    host = await services().hosts.get(parse_uuid(host_id, "host"), owner=current_user().id)
    return host_view(host)


@blueprint.post("/<host_id>/rotate-ssh-password")
async def rotate_my_ssh_password(host_id: str) -> dict[str, Any]:
    """A new SSH password for one's own box (what its entry link asks), shown once."""
    await confirm_from_body()
    password = await services().hosts.rotate_ssh_password(
        actor(), parse_uuid(host_id, "host"), owner=current_user().id
    )
    return {"ssh_password": password}


@blueprint.post("/<host_id>/<action>")
async def my_host_action(host_id: str, action: str) -> tuple[dict[str, Any], int]:
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action!r}")
    task = await services().hosts.act(
        actor(),
        parse_uuid(host_id, "host"),
        action,
        owner=current_user().id,
    )
    return {"task_id": str(task.id)}, 202
