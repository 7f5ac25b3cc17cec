"""``/v1/admin/egress-ips``: exits (list, create, show, replace, delete; admins only).

Bodies are checked per kind by ``cloudclaude.domain.exit_schema``; answers mask every secret.
"""

from __future__ import annotations

import uuid
from typing import Any

from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.exit_schema import KINDS, allowed_fields
from cloudclaude.model.views import exit_view
from web.api.common import actor, authenticate, page_body, paging, read_json, services
from web.api.contract import documented, requires
from web.api.exit_body import ExitBody
from web.api.queries import PageQuery
from web.api.shapes import ExitOut, ExitPage, TaskQueued

blueprint = Blueprint("api_admin_exits", __name__, url_prefix="/v1/admin/egress-ips")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


def _exit_id(text: str) -> uuid.UUID:
    return parse_uuid(text, "exit", "exit_not_found")


@blueprint.get("")
@documented(query=PageQuery, answers={200: ExitPage})
async def list_exits() -> dict[str, Any]:
    limit, offset = paging()
    page = await services().exits.list_exits(limit=limit, offset=offset)
    body = page_body([exit_view(e) for e in page.items], page.total, limit, offset)
    body["kinds"] = {kind: list(allowed_fields(kind)) for kind in KINDS}  # what each kind takes
    return body


@blueprint.post("")
@documented(body=ExitBody, answers={201: ExitOut}, errors=("exit_invalid", "exit_label_taken"))
async def create_exit() -> tuple[dict[str, Any], int]:
    created = await services().exits.create(actor(), await read_json())
    return exit_view(created), 201


@blueprint.get("/<exit_id>")
@documented(answers={200: ExitOut}, errors=("exit_not_found",))
async def show_exit(exit_id: str) -> dict[str, Any]:
    return exit_view(await services().exits.get(_exit_id(exit_id)))


@blueprint.put("/<exit_id>")
@documented(
    body=ExitBody,
    answers={200: ExitOut},
    errors=("exit_not_found", "exit_invalid", "exit_label_taken"),
)
async def replace_exit(exit_id: str) -> dict[str, Any]:
    data = await read_json()
    return exit_view(await services().exits.update(actor(), _exit_id(exit_id), data))


@blueprint.delete("/<exit_id>")
@documented(answers={204: None}, errors=("exit_not_found", "exit_in_use"))
async def delete_exit(exit_id: str) -> tuple[str, int]:
    await services().exits.delete(actor(), _exit_id(exit_id))
    return "", 204


@blueprint.post("/<exit_id>/test")
@documented(answers={202: TaskQueued}, errors=("exit_not_found",))
async def test_exit(exit_id: str) -> tuple[dict[str, Any], int]:
    """Queue a test of the exit; its steps stream as the task's events (``/v1/admin/sse``)."""
    task = await services().exits.queue_test(actor(), _exit_id(exit_id))
    return {"task_id": str(task.id)}, 202
