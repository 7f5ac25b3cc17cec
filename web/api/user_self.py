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
from cloudclaude.model.views import key_view
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

blueprint = Blueprint("api_user", __name__, url_prefix="/v1/user")


@blueprint.before_request
async def _signed_in() -> None:
    await authenticate()


@attrs.frozen(kw_only=True)
class ChangePasswordBody:
    current_password: str
    new_password: str


@blueprint.post("/change-password")
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
async def list_keys() -> dict[str, Any]:
    keys = await services().accounts.list_keys(current_user().id)
    return {"items": [key_view(k) for k in keys]}


@blueprint.post("/ssh-keys")
async def add_key() -> tuple[dict[str, Any], int]:
    body = await read_body(AddKeyBody)
    await confirm_recent_auth(body.current_password)
    key = await services().accounts.add_key(actor(), current_user().id, body.public_key, body.name)
    return {"id": str(key.id), "fingerprint": key.fingerprint}, 201


@blueprint.delete("/ssh-keys/<key_id>")
async def delete_key(key_id: str) -> tuple[str, int]:
    await services().accounts.delete_key(actor(), current_user().id, parse_uuid(key_id, "SSH key"))
    return "", 204
