"""Admin pages for hosts: the list with live status, create, actions, logs.

Actions are POST-redirect-GET: a successful (or refused) action redirects to the host's page,
which says what happened, so a reload never repeats it, and a GET of an action's address
redirects there too instead of a 405. The host's page offers only the actions its status
allows (``domain.host_states.offered_actions``); a rebuild asks for confirmation first, on its
own page, since everything outside the home is lost. Forms that show the box's SSH password
(create, rotate) are POST-redirect-GET as well: the password waits in ``shown_once`` for the
one GET that shows it, so a reload neither makes another host nor rotates again.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.host_specs import MAX_LIMITS, MIN_LIMITS, check_timezone
from cloudclaude.domain.host_states import offered_actions
from cloudclaude.errors import CloudClaudeError, by_code
from cloudclaude.model.hosts import Host, HostAction, HostLimits
from web.api.common import actor, paging, services
from web.pages.forms import FormCheck, errors_for, float_field, form_dict, int_field, uuid_field
from web.pages.names import look_up
from web.pages.render import is_htmx, render
from web.pages.session import confirm_errors, confirm_recent, page
from web.pages.shown_once import redirect_showing, showing, take_shown
from web.pages.usage import host_gauges

blueprint = Blueprint("pages_admin_hosts", __name__, url_prefix="/admin")
PAGE = 25
#: The page's name of each action (its URL and button) → the domain's.
ACTIONS: dict[str, HostAction] = {
    "start": "start",
    "stop": "stop",
    "rebuild": "rebuild",
    "verify-egress": "verify_egress",
    "delete": "delete",
}
#: What the host's page says after a queued action (``?done=``).
DONE = {name: f"{name.replace('-', ' ').capitalize()} queued." for name in ACTIONS}
DONE["exit"] = "Exit changed."
#: The create form's fields (an error about anything else shows at the top of the form).
HOST_FIELDS = ("user_id", "egress_ip_id", "cpus", "memory_mb", "disk_gb", "timezone")
#: Sent with the rebuild form's confirm step.
REBUILD_CONFIRM = "rebuild"


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
    names = await look_up(user_ids=[h.user_id for h in found.items])
    table = {"page": found, "limit": limit, "offset": offset, "names": names}
    if is_htmx() and request.method == "GET" and not showing():  # a live refresh: the table
        return await render("admin/_hosts_table.html", **table), 200
    users = await svc.accounts.list_users(limit=200, offset=0, role="user")
    exits = await svc.exits.list_exits(limit=200, offset=0)
    html = await render(
        "admin/hosts.html",
        **table,
        users=users.items,
        exits=exits.items,
        form=form or {},
        errors=errors or {},
        created=created,
        defaults=svc.hosts.defaults,
        notice=DONE.get(request.args.get("done", "")) if status == 200 else None,
    )
    return html, status


@blueprint.get("/hosts")
@page("admin")
async def hosts() -> tuple[str, int]:
    made = take_shown("host-created")  # after the create form: its SSH password, this once
    return await _hosts_page(created=(made["short_id"], made["password"]) if made else None)


def _read_host_form(data: dict[str, str], check: FormCheck) -> tuple[uuid.UUID, HostLimits]:
    """The create form's values; every field's problem lands in ``check`` (all at once)."""
    defaults = services().hosts.defaults
    user_id = check.read("user_id", lambda: uuid_field(data, "user_id"))
    if user_id is None and "user_id" not in check.errors:
        check.errors["user_id"] = "choose a user"
    cpus = check.read("cpus", lambda: float_field(data, "cpus", defaults.cpus))
    memory = check.read("memory_mb", lambda: int_field(data, "memory_mb", defaults.memory_mb))
    disk = check.read("disk_gb", lambda: int_field(data, "disk_gb", defaults.disk_gb))
    for name, value in (("cpus", cpus), ("memory_mb", memory), ("disk_gb", disk)):
        low, high = getattr(MIN_LIMITS, name), getattr(MAX_LIMITS, name)
        if value is not None and not low <= value <= high:
            check.errors[name] = f"{name} must be between {low} and {high}"
    if data.get("timezone"):
        check.read("timezone", lambda: check_timezone(data["timezone"]))
    check.read("egress_ip_id", lambda: uuid_field(data, "egress_ip_id"))
    limits = HostLimits(
        cpus=cpus or defaults.cpus,
        memory_mb=memory or defaults.memory_mb,
        pids=defaults.pids,
        disk_gb=disk or defaults.disk_gb,
    )
    return user_id or uuid.UUID(int=0), limits


@blueprint.post("/hosts")
@page("admin")
async def create_host() -> tuple[str, int] | Response:
    data = await form_dict()
    check = FormCheck()
    user_id, limits = _read_host_form(data, check)
    if check.errors:
        return await _hosts_page(422, form=data, errors=check.errors)
    try:
        host, password, _task = await services().hosts.create(
            actor(),
            user_id=user_id,
            limits=limits,
            timezone=data.get("timezone") or None,
            egress_ip_id=uuid_field(data, "egress_ip_id"),
            start=data.get("start") == "on",
        )
    except CloudClaudeError as exc:
        errors = errors_for(exc, HOST_FIELDS)
        if exc.error.slug in ("host_limit_reached", "not_found"):  # about the chosen user
            errors = {"user_id": exc.detail or exc.error.message}
        return await _hosts_page(exc.http_status, form=data, errors=errors)
    values = {"short_id": host.short_id, "password": password}
    return redirect_showing("/admin/hosts", "host-created", values)


def _problem(host: Host) -> str:
    """What a refused action (``?failed=<action>&error=<code>``) shows on the host's page."""
    action, code = request.args.get("failed", ""), request.args.get("error", "")
    entry = by_code(code)
    if (action not in ACTIONS and action != "exit") or entry is None:
        return ""
    shown = "Changing the exit" if action == "exit" else action.replace("-", " ").capitalize()
    if entry.slug == "illegal_transition":
        return f"{shown} is not possible while the host is {host.status} ({entry.code})."
    return f"{shown} did not happen: {entry.message} ({entry.code} {entry.slug})"


async def _host_page(
    host_id: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    ssh_password: str = "",
) -> tuple[str, int]:
    svc = services()
    host = await svc.hosts.get(parse_uuid(host_id, "host"))
    found = await svc.tasks.page(limit=10, offset=0, host_id=host.id)
    latest = await svc.hosts.tasks.get(str(found.items[0].id)) if found.items else None
    offered = offered_actions(host.status)
    live = {
        "host": host,
        "latest": latest,
        "offered": offered,
        "gauges": host_gauges(host, svc.usage),
        "stats_period_s": max(5, round(svc.live.current.scanners.stats_period_s)),
    }
    if is_htmx() and request.method == "GET" and not showing():  # a live refresh
        return await render("admin/_host_live.html", **live), status
    owner = await svc.accounts.get(host.user_id)
    exits = await svc.exits.list_exits(limit=200, offset=0)
    html = await render(
        "admin/host.html",
        **live,
        tasks=found.items,
        owner=owner,
        notice=DONE.get(request.args.get("done", "")) if status == 200 else None,
        problem=_problem(host) if status == 200 else "",
        failed=request.args.get("failed", ""),
        errors=errors or {},
        exits=exits.items,
        ssh_password=ssh_password,
    )
    return html, status


@blueprint.get("/hosts/<host_id>")
@page("admin")
async def host(host_id: str) -> tuple[str, int]:
    uid = parse_uuid(host_id, "host")
    rotated = take_shown(f"host-ssh-password:{uid}")  # after the rotate form, this once
    return await _host_page(host_id, ssh_password=rotated["password"] if rotated else "")


@blueprint.get("/hosts/<host_id>/rebuild")
@page("admin")
async def confirm_rebuild(host_id: str) -> str:
    """The rebuild's confirm step: what is lost, and the button that does it."""
    shown = await services().hosts.get(parse_uuid(host_id, "host"))
    return await render(
        "admin/host_rebuild.html",
        host=shown,
        confirm=REBUILD_CONFIRM,
        offered=offered_actions(shown.status),
        back=f"/admin/hosts/{shown.id}",
        post=f"/admin/hosts/{shown.id}/rebuild",
    )


@blueprint.get("/hosts/<host_id>/<action>")
@page("admin")
async def host_action_address(host_id: str, action: str) -> Response:
    """An action's address opened (a reload, a bookmark): the host's page, not a 405."""
    return redirect(f"/admin/hosts/{parse_uuid(host_id, 'host')}")


@blueprint.post("/hosts/<host_id>/rotate-ssh-password")
@page("admin")
async def rotate_ssh_password(host_id: str) -> tuple[str, int] | Response:
    """A new SSH password for the box's entry link, shown once by the GET this redirects to."""
    uid = parse_uuid(host_id, "host")
    data = await form_dict()
    try:
        await confirm_recent(data)
    except CloudClaudeError as exc:
        if (confirm := confirm_errors(exc)) is None:
            raise
        errors = {"ssh_current_password": next(iter(confirm.values()))}
        return await _host_page(host_id, exc.http_status, errors=errors)
    password = await services().hosts.rotate_ssh_password(actor(), uid)
    where = f"host-ssh-password:{uid}"
    values = {"password": password}
    return redirect_showing(f"/admin/hosts/{uid}", where, values, anchor="ssh-password")


@blueprint.post("/hosts/<host_id>/<action>")
@page("admin")
async def host_action(host_id: str, action: str) -> tuple[str, int] | Response:
    hosts = services().hosts
    uid = parse_uuid(host_id, "host")
    if action not in ACTIONS:
        raise CloudClaudeError("not_found", f"no action {action[:32]!r}")
    shown = await hosts.get(uid)
    data = await form_dict()
    here = f"/admin/hosts/{uid}"
    if action == "delete" and data.get("confirm") != shown.short_id:
        errors = {"confirm": f"type {shown.short_id} to confirm the delete"}
        return await _host_page(host_id, 422, errors=errors)
    if action == "rebuild" and data.get("confirm") != REBUILD_CONFIRM:
        return redirect(f"{here}/rebuild")  # the confirm step first
    if ACTIONS[action] not in offered_actions(shown.status):
        return redirect(f"{here}?failed={action}&error=STATE_013#actions")
    try:
        await hosts.act(actor(), uid, ACTIONS[action], purge=data.get("purge") == "on")
    except CloudClaudeError as exc:
        if exc.http_status >= 500:
            raise
        return redirect(f"{here}?failed={action}&error={exc.error.code}#actions")
    if action == "delete":
        return redirect("/admin/hosts?done=delete")
    return redirect(f"{here}?done={action}#actions")


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
