"""``/v1/admin/credentials``: Claude Code's API keys (list, create, show, rotate, assign,
delete; admins only).

Answers carry the key's mask only (``sk-ant-…abcd``). Creating and rotating a key also need
the admin's own ``current_password`` in the body or a sign-in within ``auth.recent_auth_s``.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from quart import Blueprint

from cloudclaude.core.ids import parse_uuid
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.credential_views import credential_view
from web.api.common import (
    actor,
    authenticate,
    confirm_recent_auth,
    read_body,
    read_json,
    services,
    structure,
)
from web.api.contract import documented, requires
from web.api.credential_shapes import CredentialList, CredentialOut

blueprint = Blueprint("api_admin_credentials", __name__, url_prefix="/v1/admin/credentials")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


def parse_credential_id(text: str) -> uuid.UUID:
    return parse_uuid(text, "API key", "credential_not_found")


@attrs.frozen(kw_only=True)
class CreateBody:
    #: 1 to 48 letters, digits, ``.``, ``_`` or ``-``.
    name: str
    #: The API key (20 to 512 printable ASCII characters); never answered back.
    key: str = attrs.field(repr=False)
    #: Make it the team default (the former default stops being it).
    default: bool = False
    #: Users (by name) whose requests go out with it; each leaves any other key.
    users: list[str] = attrs.field(factory=list)
    #: The admin's own password (recent-auth), unless they signed in a moment ago.
    current_password: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class RotateBody:
    key: str = attrs.field(repr=False)
    current_password: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class AssignmentBody:
    #: The key's whole list of users, by name (left out: unchanged).
    users: list[str] | None = None
    #: Make it the team default or stop it being one (left out: unchanged).
    default: bool | None = None


def _users_listed(data: dict[str, Any]) -> dict[str, Any]:
    """``users`` must be a list (a string would pass as the list of its letters)."""
    if not isinstance(data.get("users", []), list | None):
        raise CloudClaudeError("validation_failed", "users must be a list of usernames")
    return data


@blueprint.get("")
@documented(answers={200: CredentialList})
async def list_credentials() -> dict[str, Any]:
    keys = await services().credentials.list_keys()
    return {"items": [credential_view(c) for c in keys]}


@blueprint.post("")
@documented(
    body=CreateBody,
    answers={201: CredentialOut},
    errors=("api_key_invalid", "credential_name_taken", "recent_auth_required"),
)
async def create_credential() -> tuple[dict[str, Any], int]:
    body = structure(_users_listed(await read_json()), CreateBody)
    await confirm_recent_auth(body.current_password)
    created = await services().credentials.create(
        actor(), body.name, body.key, default=body.default, assign=body.users
    )
    return credential_view(created), 201


@blueprint.get("/<credential_id>")
@documented(answers={200: CredentialOut}, errors=("credential_not_found",))
async def show_credential(credential_id: str) -> dict[str, Any]:
    found = await services().credentials.get(parse_credential_id(credential_id))
    return credential_view(found)


@blueprint.delete("/<credential_id>")
@documented(answers={204: None}, errors=("credential_not_found",))
async def delete_credential(credential_id: str) -> tuple[str, int]:
    await services().credentials.delete(actor(), parse_credential_id(credential_id))
    return "", 204


@blueprint.post("/<credential_id>/rotate")
@documented(
    body=RotateBody,
    answers={200: CredentialOut},
    errors=("credential_not_found", "api_key_invalid", "recent_auth_required"),
)
async def rotate_credential(credential_id: str) -> dict[str, Any]:
    body = await read_body(RotateBody)
    await confirm_recent_auth(body.current_password)
    rotated = await services().credentials.rotate(
        actor(), parse_credential_id(credential_id), body.key
    )
    return credential_view(rotated)


@blueprint.put("/<credential_id>/assignment")
@documented(body=AssignmentBody, answers={200: CredentialOut}, errors=("credential_not_found",))
async def assign_credential(credential_id: str) -> dict[str, Any]:
    body = structure(_users_listed(await read_json()), AssignmentBody)
    found = await services().credentials.assign(
        actor(), parse_credential_id(credential_id), body.users, body.default
    )
    return credential_view(found)
