"""``POST /v1/auth/login`` (public), ``POST /v1/auth/logout`` and ``GET /v1/me``.

A login opens a server-side session (``cloudclaude.domain.sessions``); its token names it.
Logout deletes that session, so the token is refused from then on (``session_ended``).
"""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from cloudclaude.core.timefmt import iso
from cloudclaude.domain.sessions import BOOTSTRAP_STEPS
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.views import user_view
from web.api.common import (
    actor,
    authenticate,
    client_address,
    current_session,
    current_user,
    read_body,
    services,
    signed_in,
)
from web.api.contract import documented
from web.api.shapes import Login, UserOut

blueprint = Blueprint("api_auth", __name__, url_prefix="/v1")


@attrs.frozen(kw_only=True)
class LoginBody:
    username: str = attrs.field(validator=attrs.validators.max_len(64))
    password: str = attrs.field(validator=attrs.validators.max_len(1024))


@blueprint.post("/auth/login")
@documented(
    body=LoginBody,
    answers={200: Login},
    errors=("auth_invalid", "account_disabled", "account_expired", "rate_limited", "auth_busy"),
)
async def login() -> tuple[dict[str, Any], int]:
    body = await read_body(LoginBody)
    svc = services()
    try:
        result = await svc.accounts.login(body.username, body.password, client_address())
    except CloudClaudeError as exc:
        svc.metrics.auth_attempts.labels("password", exc.error.slug).inc()
        raise
    svc.metrics.auth_attempts.labels("password", "success").inc()
    return {
        "token": result.token,
        "expires_at": iso(result.expires_at),
        "role": result.user.role,
    }, 200


@blueprint.post("/auth/logout")
@documented(auth="bootstrap", answers={204: None})
async def logout() -> tuple[str, int]:
    """End the session the token names (a bootstrap token may end its own, too)."""
    await authenticate(allowed=BOOTSTRAP_STEPS)
    await services().accounts.sessions.close(actor(), current_session())
    return "", 204


@blueprint.get("/me")
@documented(answers={200: UserOut})
@signed_in
async def me() -> dict[str, Any]:
    return user_view(current_user())
