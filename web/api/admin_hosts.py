"""``/v1/admin/hosts``: list, create, show, delete, actions, SSH password, logs (admins only)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import attrs
from attrs.validators import ge, le
from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HOST_STATUSES, HostAction, HostStatus
from cloudclaude.model.views import host_view
from web.api.common import (
    ConfirmBody,
    actor,
    authenticate,
    confirm_from_body,
    page_body,
    paging,
    read_body,
    read_json,
    services,
)
from web.api.contract import documented, requires
from web.api.queries import PageQuery
from web.api.shapes import HostLogs, HostOut, NewHostOut, Page, SshPassword, TaskQueued

blueprint = Blueprint("api_admin_hosts", __name__, url_prefix="/v1/admin/hosts")
ACTIONS: tuple[HostAction, ...] = ("start", "stop", "rebuild")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


@attrs.frozen(kw_only=True)
class CreateHostBody:
    user_id: str
    cpus: float | None = None
    memory_mb: int | None = None
    pids: int | None = None
    disk_gb: int | None = None
    timezone: str | None = None
    #: The host's exit; absent: ``egress.default_exit`` if set, else none.
    egress_ip_id: str | None = None
    #: Start it once made (one task: create, then start).
    start: bool = False


@attrs.frozen(kw_only=True)
class HostQuery(PageQuery):
    status: HostStatus | None = None
    user_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class PurgeQuery:
    #: Also delete the home volume.
    purge: bool = False


@attrs.frozen(kw_only=True)
class AllowlistBody:
    #: Only these domains (and subdomains) reachable; ``[]``: none.
    domains: list[str]


@attrs.frozen(kw_only=True)
class LogsQuery:
    #: How many lines from the end, 1..5000.
    tail: int = attrs.field(default=200, validator=[ge(1), le(5000)])


@blueprint.get("")
@documented(query=HostQuery, answers={200: Page[HostOut]})
async def list_hosts() -> dict[str, Any]:
    limit, offset = paging()
    status = request.args.get("status") or None
    if status is not None and status not in HOST_STATUSES:
        raise CloudClaudeError("bad_query", f"status must be one of {', '.join(HOST_STATUSES)}")
    user_id = request.args.get("user_id")
    page = await services().hosts.list_hosts(
        limit=limit,
        offset=offset,
        status=status,
        user_id=parse_uuid(user_id, "user") if user_id else None,
    )
    return page_body([host_view(h) for h in page.items], page.total, limit, offset)


@blueprint.post("")
@documented(
    body=CreateHostBody,
    answers={201: NewHostOut},
    errors=("host_limit_reached", "exit_not_found", "exit_invalid"),
)
async def create_host() -> tuple[dict[str, Any], int]:
    body = await read_body(CreateHostBody)
    hosts = services().hosts
    given = {
        k: v
        for k, v in attrs.asdict(body).items()
        if k in ("cpus", "memory_mb", "pids", "disk_gb") and v is not None
    }
    host, password, task = await hosts.create(
        actor(),
        user_id=parse_uuid(body.user_id, "user"),
        limits=attrs.evolve(hosts.defaults, **given) if given else hosts.defaults,
        timezone=body.timezone,
        egress_ip_id=(
            parse_uuid(body.egress_ip_id, "exit", "exit_not_found") if body.egress_ip_id else None
        ),
        start=body.start,
    )
    return {**host_view(host), "ssh_password": password, "task_id": str(task.id)}, 201


@blueprint.get("/<host_id>")
@documented(answers={200: HostOut}, errors=("host_not_found",))
async def show_host(host_id: str) -> dict[str, Any]:
    return host_view(await services().hosts.get(parse_uuid(host_id, "host")))


@blueprint.delete("/<host_id>")
@documented(query=PurgeQuery, answers={202: TaskQueued}, errors=("host_not_found", "host_busy"))
async def delete_host(host_id: str) -> tuple[dict[str, Any], int]:
    purge = request.args.get("purge", "false").lower()
    if purge not in ("true", "false", "1", "0"):
        raise CloudClaudeError("bad_query", "purge must be true or false")
    task = await services().hosts.act(
        actor(), parse_uuid(host_id, "host"), "delete", purge=purge in ("true", "1")
    )
    return {"task_id": str(task.id)}, 202


@blueprint.post("/<host_id>/<action>")
@documented(
    path={"action": Literal["start", "stop", "rebuild", "verify-egress", "rotate-ssh-password"]},
    body=ConfirmBody,
    body_optional=True,
    answers={202: TaskQueued, 200: SshPassword},
    errors=(
        "host_not_found",
        "host_busy",
        "conflict",
        "recent_auth_required",
        "current_password_wrong",
    ),
)
async def host_action(host_id: str, action: str) -> tuple[dict[str, Any], int]:
    hosts = services().hosts
    if action == "rotate-ssh-password":
        await confirm_from_body()
        password = await hosts.rotate_ssh_password(actor(), parse_uuid(host_id, "host"))
        return {"ssh_password": password}, 200
    if action == "verify-egress":
        task = await hosts.act(actor(), parse_uuid(host_id, "host"), "verify_egress")
        return {"task_id": str(task.id)}, 202
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action!r}")
    task = await hosts.act(actor(), parse_uuid(host_id, "host"), action)
    return {"task_id": str(task.id)}, 202


@blueprint.put("/<host_id>/allowlist")
@documented(body=AllowlistBody, answers={200: HostOut}, errors=("host_not_found",))
async def put_allowlist(host_id: str) -> dict[str, Any]:
    """Set the host's domain allowlist; a running host gets it at once, open connections kept."""
    body = await read_json()
    domains = body.get("domains")
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise CloudClaudeError("validation_failed", "domains must be a list of domain names")
    host = await services().hosts.set_allowlist(actor(), parse_uuid(host_id, "host"), domains)
    return host_view(host)


@blueprint.get("/<host_id>/logs")
@documented(query=LogsQuery, answers={200: HostLogs}, errors=("host_not_found",))
async def host_logs(host_id: str) -> dict[str, Any]:
    host = await services().hosts.get(parse_uuid(host_id, "host"))
    try:
        tail = int(request.args.get("tail", 200))
    except ValueError as exc:
        raise CloudClaudeError("bad_query", "tail must be an integer") from exc
    if not 1 <= tail <= 5000:
        raise CloudClaudeError("bad_query", "tail must be 1..5000")
    return {"host_id": str(host.id), "text": await services().agent.host_logs(str(host.id), tail)}
