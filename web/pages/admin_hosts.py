"""Admin pages for hosts and exits: list with live status, create, actions, logs, tasks."""

from __future__ import annotations

from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HostAction, HostLimits
from web.api.common import actor, paging, services
from web.pages.forms import errors_for, float_field, form_dict, int_field, uuid_field
from web.pages.render import is_htmx, render
from web.pages.session import page

blueprint = Blueprint("pages_admin_hosts", __name__, url_prefix="/admin")
PAGE = 25
ACTIONS: dict[str, HostAction] = {
    "start": "start",
    "stop": "stop",
    "rebuild": "rebuild",
    "verify-egress": "verify_egress",
}


async def _hosts_page(
    status: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[str, str] | None = None,
) -> tuple[str, int]:
    limit, offset = paging(PAGE)
    svc = services()
    found = await svc.hosts.list_hosts(limit=limit, offset=offset)
    if is_htmx():  # a live refresh of the table: nothing else on the page changed
        return await render("admin/_hosts_table.html", page=found, limit=limit, offset=offset), 200
    users = await svc.accounts.list_users(limit=200, offset=0, role="user")
    exits = await svc.exits.list_exits(limit=200, offset=0)
    html = await render(
        "admin/hosts.html",
        page=found,
        limit=limit,
        offset=offset,
        users=users.items,
        exits=exits.items,
        form=form or {},
        errors=errors or {},
        created=created,
        defaults=svc.hosts.defaults,
    )
    return html, status


@blueprint.get("/hosts")
@page("admin")
async def hosts() -> tuple[str, int]:
    return await _hosts_page()


@blueprint.post("/hosts")
@page("admin")
async def create_host() -> tuple[str, int]:
    data = await form_dict()
    svc = services()
    defaults = svc.hosts.defaults
    try:
        user_id = uuid_field(data, "user_id")
        if user_id is None:
            raise CloudClaudeError("validation_failed", "user_id: choose a user")
        limits = HostLimits(
            cpus=float_field(data, "cpus", defaults.cpus),
            memory_mb=int_field(data, "memory_mb", defaults.memory_mb) or defaults.memory_mb,
            pids=defaults.pids,
            disk_gb=int_field(data, "disk_gb", defaults.disk_gb) or defaults.disk_gb,
        )
        host, password, _task = await svc.hosts.create(
            actor(),
            user_id=user_id,
            limits=limits,
            timezone=data.get("timezone") or None,
            egress_ip_id=uuid_field(data, "egress_ip_id"),
        )
    except CloudClaudeError as exc:
        return await _hosts_page(exc.http_status, form=data, errors=errors_for(exc))
    return await _hosts_page(201, created=(host.short_id, password))


async def _host_page(host_id: str, status: int = 200, notice: str = "") -> tuple[str, int]:
    svc = services()
    host = await svc.hosts.get(parse_uuid(host_id, "host"))
    found = await svc.tasks.page(limit=10, offset=0, host_id=host.id)
    latest = await svc.hosts.tasks.get(str(found.items[0].id)) if found.items else None
    if is_htmx():  # a live refresh of the status and the running task
        return await render("admin/_host_live.html", host=host, latest=latest), status
    owner = await svc.accounts.get(host.user_id)
    exits = await svc.exits.list_exits(limit=200, offset=0)
    html = await render(
        "admin/host.html",
        host=host,
        tasks=found.items,
        latest=latest,
        owner=owner,
        notice=notice,
        exits=exits.items,
    )
    return html, status


@blueprint.get("/hosts/<host_id>")
@page("admin")
async def host(host_id: str) -> tuple[str, int]:
    return await _host_page(host_id)


@blueprint.post("/hosts/<host_id>/<action>")
@page("admin")
async def host_action(host_id: str, action: str) -> tuple[str, int]:
    hosts = services().hosts
    uid = parse_uuid(host_id, "host")
    if action == "delete":
        data = await form_dict()
        shown = await hosts.get(uid)
        if data.get("confirm") != shown.short_id:
            return await _host_page(host_id, 422, f"Type {shown.short_id} to confirm the delete.")
        await hosts.act(actor(), uid, "delete", purge=data.get("purge") == "on")
        return await _host_page(host_id, 202, "Delete queued.")
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action!r}")
    await hosts.act(actor(), uid, ACTIONS[action])
    return await _host_page(host_id, 202, f"{action} queued.")


@blueprint.get("/hosts/<host_id>/logs")
@page("admin")
async def host_logs(host_id: str) -> str:
    svc = services()
    host = await svc.hosts.get(parse_uuid(host_id, "host"))
    text = await svc.agent.host_logs(str(host.id), 300)
    return await render("admin/logs.html", host=host, text=text)


@blueprint.get("/exits")
@page("admin")
async def exits() -> str:
    limit, offset = paging(PAGE)
    found = await services().exits.list_exits(limit=limit, offset=offset)
    return await render("admin/exits.html", page=found, limit=limit, offset=offset)
