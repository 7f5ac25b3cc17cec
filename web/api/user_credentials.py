"""``/v1/user/credentials`` and ``/v1/user/llm-gateway``: a user's own API keys and whether
their boxes use the credentials endpoint at all.

Adding and rotating an own key need ``credentials.user_keys`` on (403 ``user_keys_off``
otherwise) and the caller's ``current_password`` or a recent sign-in; deleting one's own key
is always allowed. Another user's key is a 404. Answers carry masks only.
"""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from cloudclaude.model.credential_views import credential_view, in_effect_view
from web.api.admin_credentials import RotateBody, parse_credential_id
from web.api.common import (
    actor,
    authenticate,
    confirm_recent_auth,
    current_user,
    read_body,
    services,
)
from web.api.contract import documented, requires
from web.api.credential_shapes import CredentialOut, GatewayOut, OwnCredentials

blueprint = Blueprint("api_user_credentials", __name__, url_prefix="/v1/user")


@blueprint.before_request
@requires("user")
async def _signed_in() -> None:
    await authenticate()


@attrs.frozen(kw_only=True)
class OwnKeyBody:
    #: 1 to 31 letters, digits, ``.``, ``_`` or ``-``; stored as ``username/name``.
    name: str
    key: str = attrs.field(repr=False)
    current_password: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class GatewayBody:
    #: False: use your own Claude subscription (sign in with /login in claude); applies from
    #: the next rebuild of your boxes.
    enabled: bool


@blueprint.get("/credentials")
@documented(answers={200: OwnCredentials})
async def list_own() -> dict[str, Any]:
    svc, user = services(), current_user()
    keys = await svc.credentials.list_keys(owner=user.id)
    return {
        "items": [credential_view(c) for c in keys],
        "user_keys": svc.credentials.user_keys,
        "in_effect": in_effect_view(await svc.credentials.in_effect(user.id)),
        "llm_gateway": await svc.llm_usage.gateway_enabled(user.id),
    }


@blueprint.post("/credentials")
@documented(
    body=OwnKeyBody,
    answers={201: CredentialOut},
    errors=("user_keys_off", "api_key_invalid", "credential_name_taken", "recent_auth_required"),
)
async def add_own() -> tuple[dict[str, Any], int]:
    body = await read_body(OwnKeyBody)
    svc = services()
    svc.credentials.check_user_keys()  # before asking for a password that would not help
    await confirm_recent_auth(body.current_password)
    created = await svc.credentials.create_own(actor(), current_user(), body.name, body.key)
    return credential_view(created), 201


@blueprint.delete("/credentials/<credential_id>")
@documented(answers={204: None}, errors=("credential_not_found",))
async def delete_own(credential_id: str) -> tuple[str, int]:
    await services().credentials.delete(
        actor(), parse_credential_id(credential_id), owner=current_user().id
    )
    return "", 204


@blueprint.post("/credentials/<credential_id>/rotate")
@documented(
    body=RotateBody,
    answers={200: CredentialOut},
    errors=("user_keys_off", "credential_not_found", "api_key_invalid", "recent_auth_required"),
)
async def rotate_own(credential_id: str) -> dict[str, Any]:
    body = await read_body(RotateBody)
    svc = services()
    svc.credentials.check_user_keys()
    await confirm_recent_auth(body.current_password)
    rotated = await svc.credentials.rotate(
        actor(), parse_credential_id(credential_id), body.key, owner=current_user().id
    )
    return credential_view(rotated)


@blueprint.put("/llm-gateway")
@documented(body=GatewayBody, answers={200: GatewayOut})
async def set_gateway() -> dict[str, Any]:
    body = await read_body(GatewayBody)
    user = current_user()
    await services().llm_usage.set_gateway(actor(), user.id, body.enabled)
    return {"enabled": body.enabled}
