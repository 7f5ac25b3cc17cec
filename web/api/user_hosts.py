"""``/v1/user/hosts``: a signed-in user's own hosts; another user's host is a 404, always."""

from __future__ import annotations

from typing import Any, Literal

import attrs
from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HostAction
from cloudclaude.model.views import exit_choice_view, host_view
from web.api.common import (
    ConfirmBody,
    actor,
    authenticate,
    confirm_from_body,
    current_user,
    page_body,
    paging,
    read_body,
    services,
)
from web.api.contract import documented, requires
from web.api.queries import PageQuery
from web.api.shapes import HostOptions, HostOut, NewHostOut, Page, SshPassword, TaskQueued

blueprint = Blueprint("api_user_hosts", __name__, url_prefix="/v1/user/hosts")
ACTIONS: tuple[HostAction, ...] = ("start", "stop", "rebuild")


@blueprint.before_request
@requires("user")
async def _signed_in() -> None:
    await authenticate()


@blueprint.get("")
@documented(query=PageQuery, answers={200: Page[HostOut]})
async def my_hosts() -> dict[str, Any]:
    limit, offset = paging()
    page = await services().hosts.list_hosts(limit=limit, offset=offset, user_id=current_user().id)
    return page_body([host_view(h) for h in page.items], page.total, limit, offset)


@attrs.frozen(kw_only=True)
class NewHostBody:
    #: One of ``GET /v1/user/hosts/options``'s presets (default: its first).
    preset: str | None = None
    #: One of its exits (default: ``egress.default_exit``).
    exit_id: str | None = None
    #: Start it once made (one task: create, then start).
    start: bool = True


@blueprint.get("/options")
@documented(answers={200: HostOptions})
async def new_host_options() -> dict[str, Any]:
    """What the user may choose for a box of their own, and how many more they may make."""
    found = await services().self_service.options(current_user())
    return {
        "self_service": found.enabled,
        "room": found.room,
        "presets": [
            {"name": p.name, "cpus": p.limits.cpus, "memory_mb": p.limits.memory_mb,
             "disk_gb": p.limits.disk_gb}
            for p in found.presets
        ],
        "exits": [exit_choice_view(e) for e in found.exits],
    }  # fmt: skip


@blueprint.post("")
@documented(
    body=NewHostBody,
    answers={201: NewHostOut},
    errors=(
        "self_service_off",
        "exit_not_allowed",
        "exit_not_found",
        "host_limit_reached",
    ),
)
async def make_my_host() -> tuple[dict[str, Any], int]:
    body = await read_body(NewHostBody)
    host, password, task = await services().self_service.create(
        actor(),
        current_user(),
        preset=body.preset,
        exit_id=parse_uuid(body.exit_id, "exit", "exit_not_found") if body.exit_id else None,
        start=body.start,
    )
    return {**host_view(host), "ssh_password": password, "task_id": str(task.id)}, 201


@blueprint.delete("/<host_id>")
@documented(answers={202: TaskQueued}, errors=("host_not_found", "host_busy", "self_service_off"))
async def delete_my_host(host_id: str) -> tuple[dict[str, Any], int]:
    """Delete one's own box and its home."""
    task = await services().self_service.delete(
        actor(), current_user(), parse_uuid(host_id, "host")
    )
    return {"task_id": str(task.id)}, 202


@blueprint.get("/<host_id>")
@documented(answers={200: HostOut}, errors=("host_not_found",))
async def my_host(host_id: str) -> dict[str, Any]:
    host = await services().hosts.get(parse_uuid(host_id, "host"), owner=current_user().id)
    return host_view(host)


@blueprint.post("/<host_id>/rotate-ssh-password")
@documented(
    body=ConfirmBody,
    body_optional=True,
    answers={200: SshPassword},
    errors=("host_not_found", "recent_auth_required", "current_password_wrong"),
)
async def rotate_my_ssh_password(host_id: str) -> dict[str, Any]:
    """A new SSH password for one's own box (what its entry link asks), shown once."""
    await confirm_from_body()
    password = await services().hosts.rotate_ssh_password(
        actor(), parse_uuid(host_id, "host"), owner=current_user().id
    )
    return {"ssh_password": password}


@blueprint.post("/<host_id>/<action>")
@documented(
    path={"action": Literal["start", "stop", "rebuild"]},
    answers={202: TaskQueued},
    errors=("host_not_found", "host_busy", "conflict"),
)
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
