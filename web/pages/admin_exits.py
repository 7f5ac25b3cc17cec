"""Admin pages for exits and bindings: create and edit per kind, test with the verification
steps streaming live, delete, and a host's exit changed while it is stopped.

A refused exit form shows every problem at once, each next to its field
(``exit_problems.every_problem``), not one per try."""

from __future__ import annotations

import functools
from typing import Any

from quart import Blueprint, redirect, request
from werkzeug.sansio.response import Response

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.exit_schema import KINDS, allowed_fields, merge_fields
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.exits import SECRET_FIELDS
from web.api.common import actor, services
from web.pages.exit_problems import every_problem
from web.pages.forms import FormCheck, errors_for, form_dict
from web.pages.render import is_htmx, render
from web.pages.session import page

blueprint = Blueprint("pages_admin_exits", __name__, url_prefix="/admin")
#: Form fields that are not plain text.
NUMBERS = ("port", "alter_id")
FLAGS = ("tls", "tls_insecure", "udp")
LISTS = ("expected_resolvers",)
TEXTAREAS = ("tls_certificate",)


def exit_fields(
    data: dict[str, str], kind: str, *, editing: bool, check: FormCheck
) -> dict[str, Any]:
    """The API body from a form: typed values; an empty secret keeps the stored one on edit.
    A value that does not parse is left out, its problem kept in ``check``."""
    body: dict[str, Any] = {"kind": kind}
    for name in allowed_fields(kind):
        if name == "kind":
            continue
        if name in FLAGS:
            body[name] = data.get(name) == "on"
            continue
        value = data.get(name, "")
        if value == "":
            if editing and name not in SECRET_FIELDS:
                body[name] = None  # cleared
            continue
        if name in NUMBERS:
            number = check.read(name, functools.partial(_number, name, value))
            if number is not None:
                body[name] = number
        elif name in LISTS:
            body[name] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            body[name] = value
    return body


def _number(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise CloudClaudeError("exit_invalid", f"{name}: must be a number") from exc


def _problems(kind: str, found: dict[str, str]) -> dict[str, str]:
    """``found`` in the form's order, each next to its field (the rest at the top)."""
    shown = [name for name in allowed_fields(kind) if name != "kind"]
    placed: dict[str, str] = {}
    for name, problem in found.items():
        placed.setdefault(name if name in shown else "", problem)
    order = {name: index for index, name in enumerate(["", *shown])}
    return dict(sorted(placed.items(), key=lambda item: order[item[0]]))


async def _form(
    kind: str,
    status: int = 200,
    *,
    shown: Any = None,
    data: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> tuple[str, int]:
    if kind not in KINDS:
        raise CloudClaudeError("exit_invalid", f"unknown kind {kind!r}")
    values: dict[str, Any] = dict(shown.fields()) if shown is not None else {}
    if shown is not None:
        values.update(shown.masked)
    if data is None:
        values.setdefault("udp", True)  # unset means the exit carries UDP
    values.update(data or {})
    html = await render(
        "admin/exit_form.html",
        kind=kind,
        kinds=list(KINDS),
        fields=[f for f in allowed_fields(kind) if f != "kind"],
        secrets=SECRET_FIELDS,
        flags=FLAGS,
        textareas=TEXTAREAS,
        values=values,
        shown=shown,
        errors=errors or {},
    )
    return html, status


@blueprint.get("/exits/new")
@page("admin")
async def new_exit() -> tuple[str, int]:
    return await _form(request.args.get("kind", "socks5"))


@blueprint.post("/exits")
@page("admin")
async def create_exit() -> tuple[str, int] | Response:
    data = await form_dict()
    kind = data.get("kind", "")
    if kind not in KINDS:
        raise CloudClaudeError("exit_invalid", f"unknown kind {kind[:32]!r}")
    check = FormCheck()
    body = exit_fields(data, kind, editing=False, check=check)
    if problems := every_problem(body, check.errors):  # all of them at once
        return await _form(kind, 422, data=data, errors=_problems(kind, problems))
    try:
        created = await services().exits.create(actor(), body)
    except CloudClaudeError as exc:  # e.g. the label is taken
        errors = errors_for(exc, allowed_fields(kind))
        return await _form(kind, exc.http_status, data=data, errors=errors)
    return redirect(f"/admin/exits/{created.id}")


@blueprint.get("/exits/<exit_id>")
@page("admin")
async def show_exit(exit_id: str) -> tuple[str, int]:
    shown = await services().exits.get(parse_uuid(exit_id, "exit", "exit_not_found"))
    return await _form(shown.kind, shown=shown)


@blueprint.post("/exits/<exit_id>")
@page("admin")
async def edit_exit(exit_id: str) -> tuple[str, int] | Response:
    exits = services().exits
    shown = await exits.get(parse_uuid(exit_id, "exit", "exit_not_found"))
    data = await form_dict()
    check = FormCheck()
    changes = exit_fields(data, shown.kind, editing=True, check=check)
    changes.pop("kind")
    merged = merge_fields(shown.fields(), changes)  # what ``patch`` checks
    if problems := every_problem(merged, check.errors, stored=frozenset(shown.masked)):
        errors = _problems(shown.kind, problems)
        return await _form(shown.kind, 422, shown=shown, data=data, errors=errors)
    try:
        updated = await exits.patch(actor(), shown.id, changes)
    except CloudClaudeError as exc:
        errors = errors_for(exc, allowed_fields(shown.kind))
        return await _form(shown.kind, exc.http_status, shown=shown, data=data, errors=errors)
    return redirect(f"/admin/exits/{updated.id}?done=saved")


@blueprint.post("/exits/<exit_id>/delete")
@page("admin")
async def delete_exit(exit_id: str) -> tuple[str, int] | Response:
    exits = services().exits
    uid = parse_uuid(exit_id, "exit", "exit_not_found")
    try:
        await exits.delete(actor(), uid)
    except CloudClaudeError as exc:
        if exc.http_status >= 500 or exc.error.slug == "exit_not_found":
            raise
        shown = await exits.get(uid)  # e.g. still bound to a host: said at the delete form
        return await _form(
            shown.kind,
            exc.http_status,
            shown=shown,
            errors={"delete": str(exc.detail or exc.error.message)},
        )
    return redirect("/admin/exits")


@blueprint.get("/exits/<exit_id>/<action>")
@page("admin")
async def exit_action_address(exit_id: str, action: str) -> Response:
    """An action's address opened (a reload, a bookmark): the exit's page, not a 405."""
    return redirect(f"/admin/exits/{parse_uuid(exit_id, 'exit', 'exit_not_found')}")


@blueprint.post("/exits/<exit_id>/test")
@page("admin")
async def test_exit(exit_id: str) -> Response:
    task = await services().exits.queue_test(actor(), parse_uuid(exit_id, "exit", "exit_not_found"))
    return redirect(f"/admin/exits/{exit_id}/tests/{task.id}")


@blueprint.get("/exits/<exit_id>/tests/<task_id>")
@page("admin")
async def exit_test(exit_id: str, task_id: str) -> str:
    svc = services()
    shown = await svc.exits.get(parse_uuid(exit_id, "exit", "exit_not_found"))
    task = await svc.hosts.tasks.get(task_id)
    template = "admin/_exit_test.html" if is_htmx() else "admin/exit_test.html"
    return await render(template, shown=shown, task=task)


@blueprint.post("/hosts/<host_id>/exit")
@page("admin")
async def change_host_exit(host_id: str) -> Response:
    """Bind the host to another exit (409 ``binding_locked`` while it runs)."""
    svc = services()
    host = await svc.hosts.get(parse_uuid(host_id, "host"))
    data = await form_dict()
    try:
        target = parse_uuid(data.get("egress_ip_id", ""), "exit", "exit_not_found")
        await svc.exits.get(target)  # an unknown exit fails before the old binding goes
        current = await svc.exits.binding_of(host.id)
        if current is not None:
            await svc.exits.unbind(actor(), current.id)
        await svc.exits.bind(actor(), host.id, target)
    except CloudClaudeError as exc:  # said at the exit form of the host's page
        if exc.http_status >= 500:
            raise
        return redirect(f"/admin/hosts/{host.id}?failed=exit&error={exc.error.code}#exit")
    return redirect(f"/admin/hosts/{host.id}?done=exit#exit")
