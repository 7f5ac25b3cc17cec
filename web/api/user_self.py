"""``/v1/user``: what any signed-in user may do to their own account.

Changing the password needs the current one and ends every other session of the user (the
one it was changed from goes on). Adding an SSH key needs ``current_password`` in the body or
a sign-in within ``auth.recent_auth_s`` (``recent_auth_required`` otherwise).
"""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.views import key_view, task_view
from web.api.admin_users import AddKeyBody
from web.api.common import (
    actor,
    authenticate,
    confirm_recent_auth,
    current_session,
    current_user,
    read_body,
    services,
)
from web.api.contract import documented, requires
from web.api.shapes import KeyAdded, SshKeyList, TaskOut

blueprint = Blueprint("api_user", __name__, url_prefix="/v1/user")


@blueprint.before_request
@requires("user")
async def _signed_in() -> None:
    await authenticate()


@attrs.frozen(kw_only=True)
class ChangePasswordBody:
    current_password: str
    new_password: str


@blueprint.post("/change-password")
@documented(
    body=ChangePasswordBody,
    answers={204: None},
    errors=("current_password_wrong", "password_invalid", "auth_invalid"),
)
async def change_password() -> tuple[str, int]:
    body = await read_body(ChangePasswordBody)
    await services().accounts.change_own_password(
        actor(),
        current_user(),
        body.current_password,
        body.new_password,
        keep=current_session().session.id,
    )
    return "", 204


@blueprint.get("/ssh-keys")
@documented(answers={200: SshKeyList})
async def list_keys() -> dict[str, Any]:
    keys = await services().accounts.list_keys(current_user().id)
    return {"items": [key_view(k) for k in keys]}


@blueprint.post("/ssh-keys")
@documented(
    body=AddKeyBody,
    answers={201: KeyAdded},
    errors=(
        "ssh_key_invalid",
        "ssh_key_duplicate",
        "recent_auth_required",
        "current_password_wrong",
        "user_keys_off",
    ),
)
async def add_key() -> tuple[dict[str, Any], int]:
    body = await read_body(AddKeyBody)
    await confirm_recent_auth(body.current_password)
    key = await services().accounts.add_key(actor(), current_user().id, body.public_key, body.name)
    return {"id": str(key.id), "fingerprint": key.fingerprint}, 201


@blueprint.delete("/ssh-keys/<key_id>")
@documented(answers={204: None})
async def delete_key(key_id: str) -> tuple[str, int]:
    await services().accounts.delete_key(actor(), current_user().id, parse_uuid(key_id, "SSH key"))
    return "", 204


@blueprint.get("/tasks/<task_id>")
@documented(answers={200: TaskOut})
async def show_own_task(task_id: str) -> dict[str, Any]:
    """One of the user's own hosts' tasks, with its events (progress for the CLI); any other
    task is a 404, as if it did not exist."""
    svc = services()
    task = await svc.hosts.tasks.get(task_id)
    owned = task.host_id is not None and await svc.hosts.belongs_to(task.host_id, current_user().id)
    if not owned:
        raise CloudClaudeError("not_found", f"no task {task_id[:64]!r}")
    return task_view(task)
