"""``/v1/admin/bindings``: which exit each host uses (list, create, delete; admins only).

One exit per host; a binding cannot be created or deleted while its host runs (``binding_locked``).
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.model.views import binding_view
from web.api.common import actor, authenticate, page_body, paging, read_body, services
from web.api.contract import documented, requires
from web.api.queries import PageQuery
from web.api.shapes import BindingOut, Page

blueprint = Blueprint("api_admin_bindings", __name__, url_prefix="/v1/admin/bindings")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


@attrs.frozen(kw_only=True)
class CreateBindingBody:
    host_id: str
    egress_ip_id: str


@attrs.frozen(kw_only=True)
class BindingQuery(PageQuery):
    host_id: uuid.UUID | None = None
    egress_ip_id: uuid.UUID | None = None


@blueprint.get("")
@documented(query=BindingQuery, answers={200: Page[BindingOut]})
async def list_bindings() -> dict[str, Any]:
    limit, offset = paging()
    host_id = request.args.get("host_id")
    exit_id = request.args.get("egress_ip_id")
    page = await services().exits.list_bindings(
        limit=limit,
        offset=offset,
        host_id=parse_uuid(host_id, "host", "host_not_found") if host_id else None,
        exit_id=parse_uuid(exit_id, "exit", "exit_not_found") if exit_id else None,
    )
    return page_body([binding_view(b) for b in page.items], page.total, limit, offset)


@blueprint.post("")
@documented(
    body=CreateBindingBody,
    answers={201: BindingOut},
    errors=("host_not_found", "exit_not_found", "binding_exists", "binding_locked"),
)
async def create_binding() -> tuple[dict[str, Any], int]:
    body = await read_body(CreateBindingBody)
    binding = await services().exits.bind(
        actor(),
        parse_uuid(body.host_id, "host", "host_not_found"),
        parse_uuid(body.egress_ip_id, "exit", "exit_not_found"),
    )
    return binding_view(binding), 201


@blueprint.delete("/<binding_id>")
@documented(answers={204: None}, errors=("binding_locked",))
async def delete_binding(binding_id: str) -> tuple[str, int]:
    await services().exits.unbind(actor(), parse_uuid(binding_id, "binding"))
    return "", 204
